"""HubSpot's daily API limit resets at midnight in the portal's time zone, not UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import requests
import structlog
from hubspot.crm.properties import ApiException

from connectors.errors import BudgetExhausted
from connectors.hubspot import RateGovernor
from connectors.records import WriteItem
from emulators.hubspot import HubSpotEmulator
from tests.connectors.hubspot_support import FakeClock, calls, connector
from tests.fixtures.hubspot import hubspot_client_for

Factory = Callable[..., HubSpotEmulator]

#: 2026-12-06 23:00 UTC = 18:00 in New York (EST, UTC-5)
EVENING = datetime(2026, 12, 6, 23, 0, tzinfo=UTC).timestamp()
ACCOUNT = "GET /account-info/v3/details"


def _spend(emu: HubSpotEmulator, n: int) -> None:
    """Another integration spends ``n`` of the portal's daily calls."""
    for _ in range(n):
        requests.get(
            f"{emu.url}/crm/v3/properties/contacts",
            headers={"Authorization": f"Bearer {emu.token}"},
            timeout=5,
        ).raise_for_status()


def test_account_details_name_the_portal_time_zone(hubspot_emulator_factory: Factory) -> None:
    """The SDK's request to /account-info/v3/details answers the portal's timeZone and offset."""
    emu = hubspot_emulator_factory(time_zone="America/New_York", clock=FakeClock(EVENING))
    resp = hubspot_client_for(emu).api_request(
        {"method": "GET", "path": "/account-info/v3/details"}
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["timeZone"] == "America/New_York"
    assert (body["utcOffset"], body["utcOffsetMilliseconds"]) == ("-05:00", -18_000_000)
    assert body["portalId"] == emu.portal_id


def test_new_portal_is_not_on_utc(hubspot_emulator_factory: Factory) -> None:
    """A portal's default zone is a US one, as in HubSpot's examples (so UTC is never assumed)."""
    emu = hubspot_emulator_factory()
    assert emu.time_zone == "US/Eastern"


def test_daily_limit_survives_utc_midnight(hubspot_emulator_factory: Factory) -> None:
    """Calls spent at 18:00 in New York still count at 21:00 there (02:00 UTC, a new UTC
    day); the count resets at midnight New York time (05:00 UTC)."""
    clock = FakeClock(EVENING)
    emu = hubspot_emulator_factory(daily_limit=2, time_zone="America/New_York", clock=clock)
    client = hubspot_client_for(emu)
    _spend(emu, 2)
    clock.advance(3 * 3600)  # 02:00 UTC: another day in UTC, the same day in New York
    with pytest.raises(ApiException) as info:
        client.crm.properties.core_api.get_all("contacts")
    assert info.value.status == 429
    assert '"policyName":"DAILY"' in info.value.body.replace(" ", "")
    clock.advance(3 * 3600)  # 05:00 UTC = midnight in New York
    assert client.crm.properties.core_api.get_all("contacts").results


def test_governor_resumes_at_the_portal_midnight(hubspot_emulator_factory: Factory) -> None:
    """The connector reads the zone once and its DAILY 429 resumes at 05:00 UTC (midnight in
    New York), not at 00:00 UTC when the portal would still refuse every call."""
    clock = FakeClock(EVENING)
    emu = hubspot_emulator_factory(daily_limit=4, time_zone="America/New_York", clock=clock)
    conn = connector(emu, clock=clock, waiter=clock.wait, daily_share=1.0)
    conn.describe("contacts")
    assert calls(emu).get(ACCOUNT, 0) == 0  # a quiet day never reads the zone
    conn.describe("contacts")  # half the day spent: the zone is read now, while calls pass
    assert calls(emu)[ACCOUNT] == 1
    _spend(emu, 1)  # another integration spends the rest of the portal's day
    with pytest.raises(BudgetExhausted) as caught:
        conn.write("contacts", [WriteItem("k", {"email": "a@example.com"})])
    assert caught.value.code == "DAILY"
    assert caught.value.resume_at == datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
    assert calls(emu)[ACCOUNT] == 1
    clock.advance(6 * 3600 + 1)  # past midnight in New York: the portal serves again
    assert conn.write("contacts", [WriteItem("k", {"email": "a@example.com"})])[0].ok
    assert calls(emu)[ACCOUNT] == 1  # read once


def test_daily_share_resumes_at_the_portal_midnight(hubspot_emulator_factory: Factory) -> None:
    """The local daily share also resumes at the portal's midnight."""
    clock = FakeClock(EVENING)
    emu = hubspot_emulator_factory(daily_limit=4, time_zone="America/New_York", clock=clock)
    conn = connector(emu, clock=clock, waiter=clock.wait, daily_share=0.5)
    conn.describe("contacts")
    conn.describe("contacts")  # the share is spent; the zone is read (a 3rd call)
    with pytest.raises(BudgetExhausted) as caught:
        conn.describe("contacts")
    assert caught.value.code == "DAILY_SHARE"
    assert caught.value.resume_at == datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def test_unknown_zone_falls_back_to_utc_and_records_it() -> None:
    """A zone that cannot be read is a recorded fallback to UTC (tried again at the next
    need), never a crash."""

    def broken() -> str:
        raise RuntimeError("account details answered 403")

    gov = RateGovernor(clock=FakeClock(EVENING), zone_source=broken)
    with structlog.testing.capture_logs() as logs:
        assert gov.zone == UTC
        assert gov.zone == UTC
    assert [e["event"] for e in logs] == ["hubspot.time_zone_fallback"] * 2
