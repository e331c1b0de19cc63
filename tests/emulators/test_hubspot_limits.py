"""HubSpot emulator: authentication, rate-limit headers and 429 bodies."""

from __future__ import annotations

import json
from collections.abc import Callable

import hubspot
import pytest
import requests
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputForCreate,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import UnauthorizedException

from emulators.hubspot import HubSpotEmulator
from tests.fixtures.hubspot import hubspot_client_for


class FakeClock:
    """A settable clock for window tests."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _create(client: hubspot.Client, email: str) -> object:
    return client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": email})
    )


def test_missing_token_is_401(hubspot_emulator: HubSpotEmulator) -> None:
    """No bearer token: 401 INVALID_AUTHENTICATION."""
    resp = requests.get(f"{hubspot_emulator.url}/crm/v3/objects/contacts", timeout=5)
    assert resp.status_code == 401
    assert resp.json()["category"] == "INVALID_AUTHENTICATION"
    assert resp.json()["status"] == "error" and resp.json()["correlationId"]


def test_wrong_token_is_401_through_sdk(hubspot_emulator: HubSpotEmulator) -> None:
    """A wrong token raises the SDK's UnauthorizedException."""
    client = hubspot_client_for(hubspot_emulator, token="pat-wrong")
    with pytest.raises(UnauthorizedException) as info:
        client.crm.contacts.basic_api.get_page()
    assert json.loads(info.value.body)["category"] == "INVALID_AUTHENTICATION"


def test_rate_limit_headers_on_normal_calls(hubspot_client: hubspot.Client) -> None:
    """Every non-search response carries the X-HubSpot-RateLimit-* headers."""
    resp = hubspot_client.api_request({"method": "GET", "path": "/crm/v3/objects/contacts"})
    assert resp.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert resp.headers["X-HubSpot-RateLimit-Remaining"] == "189"
    assert resp.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert resp.headers["X-HubSpot-RateLimit-Daily"] == "650000"
    assert resp.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "649999"


def test_ten_second_limit_answers_429(
    hubspot_emulator_factory: Callable[..., HubSpotEmulator],
) -> None:
    """Past the 10-second budget a call is a 429 TEN_SECONDLY_ROLLING with headers."""
    emu = hubspot_emulator_factory(rate_limit_per_10s=2, clock=FakeClock())
    client = hubspot_client_for(emu)
    _create(client, "a@example.com")
    _create(client, "b@example.com")
    with pytest.raises(ApiException) as info:
        _create(client, "c@example.com")
    body = json.loads(info.value.body)
    assert info.value.status == 429
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT" and body["status"] == "error"
    assert body["correlationId"] and body["requestId"]
    assert info.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in info.value.headers


def test_window_rolls_after_ten_seconds(
    hubspot_emulator_factory: Callable[..., HubSpotEmulator],
) -> None:
    """Calls older than 10 s leave the window."""
    clock = FakeClock()
    emu = hubspot_emulator_factory(rate_limit_per_10s=1, clock=clock)
    client = hubspot_client_for(emu)
    _create(client, "a@example.com")
    clock.now += 5
    with pytest.raises(ApiException):
        _create(client, "b@example.com")
    clock.now += 5.5
    assert _create(client, "b@example.com") is not None


def test_daily_limit(hubspot_emulator_factory: Callable[..., HubSpotEmulator]) -> None:
    """The daily counter gives policyName DAILY and resets the next UTC day."""
    clock = FakeClock(1_700_000_000.0)
    emu = hubspot_emulator_factory(daily_limit=2, clock=clock)
    client = hubspot_client_for(emu)
    _create(client, "a@example.com")
    _create(client, "b@example.com")
    with pytest.raises(ApiException) as info:
        _create(client, "c@example.com")
    body = json.loads(info.value.body)
    assert body["policyName"] == "DAILY"
    assert body["message"] == "You have reached your daily limit."
    clock.now += 86_400
    assert _create(client, "c@example.com") is not None


def test_retry_after_header_when_configured(
    hubspot_emulator_factory: Callable[..., HubSpotEmulator],
) -> None:
    """retry_after adds a Retry-After header to 429s."""
    emu = hubspot_emulator_factory(rate_limit_per_10s=1, retry_after=3, clock=FakeClock())
    client = hubspot_client_for(emu)
    _create(client, "a@example.com")
    with pytest.raises(ApiException) as info:
        client.crm.contacts.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[{"properties": {"email": "b@example.com"}}]
            )
        )
    assert info.value.headers["Retry-After"] == "3"


def test_admin_routes_are_neither_limited_nor_authenticated(
    hubspot_emulator_factory: Callable[..., HubSpotEmulator],
) -> None:
    """The /_emulator admin API works without a token and past the rate limit."""
    emu = hubspot_emulator_factory(rate_limit_per_10s=1, clock=FakeClock())
    for _ in range(3):
        assert requests.get(f"{emu.url}/_emulator/records/contacts", timeout=5).status_code == 200


def test_rejected_calls_do_not_count(
    hubspot_emulator_factory: Callable[..., HubSpotEmulator],
) -> None:
    """Only admitted calls use up the budget."""
    emu = hubspot_emulator_factory(rate_limit_per_10s=1, clock=FakeClock())
    client = hubspot_client_for(emu)
    _create(client, "a@example.com")
    for _ in range(3):
        with pytest.raises(ApiException):
            _create(client, "b@example.com")
    resp = client.api_request({"method": "GET", "path": "/crm/v3/objects/contacts"})
    assert resp.status_code == 429
    assert resp.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "649999"
