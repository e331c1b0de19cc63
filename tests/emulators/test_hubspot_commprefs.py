"""HubSpot emulator: communication preferences v3 (SDK) and v4 (client.api_request)."""

from __future__ import annotations

import json
from typing import Any

import hubspot
import pytest
from hubspot.communication_preferences import ApiException, PublicUpdateSubscriptionStatusRequest

from emulators.hubspot import HubSpotEmulator

MARKETING, NEWSLETTER = "101", "102"


def _v3(client: hubspot.Client, action: str, email: str, sid: str = MARKETING) -> Any:
    request = PublicUpdateSubscriptionStatusRequest(
        email_address=email,
        subscription_id=sid,
        legal_basis="CONSENT_WITH_NOTICE",
        legal_basis_explanation="Opted in at checkout",
    )
    return getattr(client.communication_preferences.status_api, action)(request)


def _v4(client: hubspot.Client, method: str, path: str, body: Any = None, **qs: str) -> Any:
    options: dict[str, Any] = {"method": method, "path": f"/communication-preferences/v4{path}"}
    if body is not None:
        options["body"] = body
    if qs:
        options["qs"] = qs
    return client.api_request(options)


def _optout(emu: HubSpotEmulator, email: str) -> str | None:
    rows = [r for r in emu.records("contacts") if r["properties"].get("email") == email]
    return rows[0]["properties"].get("hs_email_optout") if rows else None


def test_v3_definitions(hubspot_client: hubspot.Client) -> None:
    """The seeded subscription definitions come back as SDK models."""
    resp = hubspot_client.communication_preferences.definition_api.get_page()
    assert resp is not None
    assert {d.name for d in resp.subscription_definitions} == {
        "Marketing Information",
        "Newsletter",
        "One to One",
    }


def test_v3_subscribe_then_status(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """Subscribing returns the status row and the email's statuses reflect it."""
    row = _v3(hubspot_client, "subscribe", "sub@example.com")
    assert row.status == "SUBSCRIBED" and row.legal_basis == "CONSENT_WITH_NOTICE"
    statuses = hubspot_client.communication_preferences.status_api.get_email_status(
        "sub@example.com"
    )
    by_id = {s.id: s.status for s in statuses.subscription_statuses}
    assert by_id[MARKETING] == "SUBSCRIBED" and by_id[NEWSLETTER] == "NOT_SUBSCRIBED"
    assert _optout(hubspot_emulator, "sub@example.com") == "false"


def test_v3_unsubscribe(hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator) -> None:
    """Unsubscribing one subscription sets its per-type opt-out property."""
    hubspot_emulator.admin_create("contacts", {"properties": {"email": "u@example.com"}})
    row = _v3(hubspot_client, "unsubscribe", "u@example.com", NEWSLETTER)
    assert row.status == "NOT_SUBSCRIBED"
    contact = hubspot_emulator.records("contacts")[0]["properties"]
    assert contact[f"hs_email_optout_{NEWSLETTER}"] == "true"


def test_v3_cannot_resubscribe(hubspot_client: hubspot.Client) -> None:
    """v3 subscribe refuses someone who unsubscribed."""
    _v3(hubspot_client, "unsubscribe", "back@example.com")
    with pytest.raises(ApiException) as info:
        _v3(hubspot_client, "subscribe", "back@example.com")
    assert info.value.status == 400
    assert json.loads(info.value.body)["category"] == "VALIDATION_ERROR"


def test_v3_unsubscribe_twice_is_rejected(hubspot_client: hubspot.Client) -> None:
    """Unsubscribing an already unsubscribed address is a 400."""
    _v3(hubspot_client, "unsubscribe", "twice@example.com")
    with pytest.raises(ApiException) as info:
        _v3(hubspot_client, "unsubscribe", "twice@example.com")
    assert "already unsubscribed" in json.loads(info.value.body)["message"]


def test_v3_rejects_unknown_subscription(hubspot_client: hubspot.Client) -> None:
    """An unknown subscription id is a 400."""
    with pytest.raises(ApiException) as info:
        _v3(hubspot_client, "subscribe", "x@example.com", "999")
    assert info.value.status == 400


def test_subscribing_unknown_email_creates_contact(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """Like HubSpot, a status write for a new address creates the contact."""
    _v3(hubspot_client, "subscribe", "new@example.com")
    assert [r["properties"]["email"] for r in hubspot_emulator.records("contacts")] == [
        "new@example.com"
    ]


def test_v4_get_statuses(hubspot_client: hubspot.Client) -> None:
    """v4 GET lists a status per subscription (NOT_SPECIFIED when never set)."""
    resp = _v4(hubspot_client, "GET", "/statuses/v4@example.com", channel="EMAIL")
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "COMPLETE"
    assert {r["status"] for r in body["results"]} == {"NOT_SPECIFIED"}
    assert {r["subscriptionId"] for r in body["results"]} == {101, 102, 103}


def test_v4_requires_email_channel(hubspot_client: hubspot.Client) -> None:
    """channel=EMAIL is required."""
    assert _v4(hubspot_client, "GET", "/statuses/v4@example.com").status_code == 400


def test_v4_can_resubscribe(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """v4 resubscribes an unsubscribed address and says so."""
    _v3(hubspot_client, "unsubscribe", "re@example.com")
    resp = _v4(
        hubspot_client,
        "POST",
        "/statuses/re@example.com",
        {
            "channel": "EMAIL",
            "subscriptionId": 101,
            "statusState": "SUBSCRIBED",
            "legalBasis": "CONSENT_WITH_NOTICE",
            "legalBasisExplanation": "Asked again",
        },
    )
    row = resp.json()["results"][0]
    assert row["status"] == "SUBSCRIBED" and row["setStatusSuccessReason"] == "RESUBSCRIBE_OCCURRED"
    contact = hubspot_emulator.records("contacts")[0]["properties"]
    assert "hs_email_optout_101" not in contact


def test_v4_rejects_bad_legal_basis(hubspot_client: hubspot.Client) -> None:
    """legalBasis must be one of the enum values."""
    resp = _v4(
        hubspot_client,
        "POST",
        "/statuses/lb@example.com",
        {
            "channel": "EMAIL",
            "subscriptionId": 101,
            "statusState": "SUBSCRIBED",
            "legalBasis": "BECAUSE",
        },
    )
    assert resp.status_code == 400


def test_v4_legal_basis_required_when_portal_demands(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """With GDPR features on, a write without a legal basis is a 400."""
    hubspot_emulator.commprefs.require_legal_basis = True
    resp = _v4(
        hubspot_client,
        "POST",
        "/statuses/gdpr@example.com",
        {"channel": "EMAIL", "subscriptionId": 101, "statusState": "SUBSCRIBED"},
    )
    assert resp.status_code == 400


def test_v4_unsubscribe_all_round_trip(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """unsubscribe-all opts out everywhere; its GET then reports the portal-wide status."""
    assert (
        _v4(
            hubspot_client, "GET", "/statuses/all@example.com/unsubscribe-all", channel="EMAIL"
        ).json()["results"]
        == []
    )
    done = _v4(hubspot_client, "POST", "/statuses/all@example.com/unsubscribe-all", channel="EMAIL")
    assert {r["status"] for r in done.json()["results"]} == {"UNSUBSCRIBED"}
    wide = _v4(hubspot_client, "GET", "/statuses/all@example.com/unsubscribe-all", channel="EMAIL")
    assert wide.json()["results"][0]["wideStatusType"] == "PORTAL_WIDE"
    assert _optout(hubspot_emulator, "all@example.com") == "true"
    v3 = hubspot_client.communication_preferences.status_api.get_email_status("all@example.com")
    assert {s.source_of_status for s in v3.subscription_statuses} == {"PORTAL_WIDE_STATUS"}


def test_v4_resubscribe_clears_portal_wide_optout(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """Subscribing through v4 after unsubscribe-all lifts hs_email_optout."""
    _v4(hubspot_client, "POST", "/statuses/lift@example.com/unsubscribe-all", channel="EMAIL")
    _v4(
        hubspot_client,
        "POST",
        "/statuses/lift@example.com",
        {
            "channel": "EMAIL",
            "subscriptionId": 102,
            "statusState": "SUBSCRIBED",
            "legalBasis": "NON_GDPR",
        },
    )
    assert _optout(hubspot_emulator, "lift@example.com") == "false"


def test_v4_batch_read_and_207(hubspot_client: hubspot.Client) -> None:
    """batch/read answers per email; an invalid email makes it a 207."""
    ok = _v4(
        hubspot_client,
        "POST",
        "/statuses/batch/read",
        {"inputs": ["a@example.com"]},
        channel="EMAIL",
    )
    assert (
        ok.status_code == 200 and ok.json()["results"][0]["subscriberIdString"] == "a@example.com"
    )
    mixed = _v4(
        hubspot_client,
        "POST",
        "/statuses/batch/read",
        {"inputs": ["a@example.com", "nope"]},
        channel="EMAIL",
    )
    assert mixed.status_code == 207 and mixed.json()["numErrors"] == 1


def test_v4_batch_write(hubspot_client: hubspot.Client) -> None:
    """batch/write applies several status changes."""
    resp = _v4(
        hubspot_client,
        "POST",
        "/statuses/batch/write",
        {
            "inputs": [
                {
                    "subscriberIdString": f"w{i}@example.com",
                    "channel": "EMAIL",
                    "subscriptionId": 102,
                    "statusState": "SUBSCRIBED",
                }
                for i in range(3)
            ]
        },
    )
    assert resp.status_code == 200
    assert {r["setStatusSuccessReason"] for r in resp.json()["results"]} == {
        "REQUESTED_CHANGE_OCCURRED"
    }


def test_v4_batch_unsubscribe_all_and_read(hubspot_client: hubspot.Client) -> None:
    """batch/unsubscribe-all then batch/unsubscribe-all/read shows the wide statuses."""
    body = {"inputs": ["b1@example.com", "b2@example.com"]}
    done = _v4(hubspot_client, "POST", "/statuses/batch/unsubscribe-all", body, channel="EMAIL")
    assert done.status_code == 200 and len(done.json()["results"]) == 2
    read = _v4(
        hubspot_client, "POST", "/statuses/batch/unsubscribe-all/read", body, channel="EMAIL"
    )
    assert all(r["wideStatuses"][0]["status"] == "UNSUBSCRIBED" for r in read.json()["results"])


def test_gdpr_deleted_email_cannot_get_statuses(hubspot_client: hubspot.Client) -> None:
    """Status writes for a blocklisted address are refused."""
    hubspot_client.crm.contacts.basic_api.purge(
        hubspot.crm.contacts.PublicGdprDeleteInput(
            object_id="erased@example.com", id_property="email"
        )
    )
    with pytest.raises(ApiException):
        _v3(hubspot_client, "subscribe", "erased@example.com")
