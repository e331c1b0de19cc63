"""HubSpot rate limits and error translation: governor waits, 429 policies, 5xx, auth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests

from connectors.errors import BudgetExhausted, Fatal, Retriable
from connectors.hubspot import HubSpotConnector, RateGovernor
from connectors.records import WriteItem
from emulators.hubspot import HubSpotEmulator
from tests.connectors.hubspot_support import FakeClock, calls, connector, faults

UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"
LIST_PROPS = "GET /crm/v3/properties/{object_type}"

Factory = Callable[..., HubSpotEmulator]


def _headers(
    remaining: int, daily_remaining: int = 1000, daily: int = 1000, maximum: int = 10
) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Daily": str(daily),
        "X-HubSpot-RateLimit-Daily-Remaining": str(daily_remaining),
    }


def test_governor_no_wait_with_headroom() -> None:
    """Plenty of burst budget left: no wait."""
    clock = FakeClock()
    gov = RateGovernor(clock=clock, waiter=clock.wait)
    gov.observe(_headers(remaining=8))
    assert gov.wait_needed() == 0.0


def test_governor_waits_for_own_calls_to_leave_the_window() -> None:
    """With the window spent, the wait ends when our oldest call of the window rolls out
    (one call a second stays under the even pace of a 100-call window: only the window
    holds the next call back)."""
    clock = FakeClock()
    gov = RateGovernor(clock=clock, waiter=clock.wait, margin_s=0.0)
    for remaining in (3, 2, 1):
        gov.before_call()
        gov.observe(_headers(remaining, maximum=100))
        clock.advance(1.0)
    assert gov.wait_needed() == pytest.approx(10.0 - 3.0)


def test_governor_refuses_past_the_daily_share() -> None:
    """At share x daily limit used, the next call raises BudgetExhausted until midnight UTC."""
    clock = FakeClock()
    gov = RateGovernor(daily_share=0.5, clock=clock, waiter=clock.wait)
    gov.observe(_headers(remaining=9, daily_remaining=500))
    with pytest.raises(BudgetExhausted) as caught:
        gov.before_call()
    assert caught.value.resume_at == datetime(2030, 1, 16, tzinfo=UTC)


def test_governor_forgets_the_daily_count_at_midnight() -> None:
    """A new UTC day starts with a fresh daily budget."""
    clock = FakeClock()
    gov = RateGovernor(daily_share=0.5, clock=clock, waiter=clock.wait)
    gov.observe(_headers(remaining=9, daily_remaining=0))
    clock.advance(timedelta(days=1).total_seconds())
    gov.before_call()


def test_governor_waits_instead_of_hitting_429(hubspot_emulator_factory: Factory) -> None:
    """Twelve calls against a 5-per-10s limit wait on the injected waiter and never see a 429."""
    clock = FakeClock()
    emu = hubspot_emulator_factory(clock=clock, rate_limit_per_10s=5)
    conn = connector(emu, clock=clock, waiter=clock.wait)
    for _ in range(12):
        conn.describe("contacts")
    assert calls(emu)[LIST_PROPS] == 12
    assert clock.waits and all(w > 0 for w in clock.waits)
    assert sum(clock.waits) >= 20.0


def test_governor_paces_searches(hubspot_emulator_factory: Factory) -> None:
    """Searches stay under the per-second search limit by waiting, not by failing."""
    clock = FakeClock()
    emu = hubspot_emulator_factory(clock=clock, search_per_second=3)
    conn = connector(emu, clock=clock, waiter=clock.wait, search_per_second=3)
    for i in range(7):
        assert conn.lookup("companies", "domain", [f"d{i}.example"]) == {f"d{i}.example": []}
    assert clock.waits


def test_ten_secondly_429_is_retriable_with_retry_after(hubspot_emulator: HubSpotEmulator) -> None:
    """A TEN_SECONDLY_ROLLING 429 raises Retriable carrying the Retry-After seconds."""
    faults(hubspot_emulator, {"match": LIST_PROPS, "status": 429, "headers": {"Retry-After": "3"}})
    with pytest.raises(Retriable) as caught:
        connector(hubspot_emulator).describe("contacts")
    assert caught.value.code == "TEN_SECONDLY_ROLLING"
    assert caught.value.retry_after == 3.0
    assert not isinstance(caught.value, BudgetExhausted)


def test_ten_secondly_429_without_header_waits_the_interval(
    hubspot_emulator: HubSpotEmulator,
) -> None:
    """Without Retry-After the retry comes after the 10 s interval."""
    faults(hubspot_emulator, {"match": LIST_PROPS, "status": 429})
    with pytest.raises(Retriable) as caught:
        connector(hubspot_emulator).describe("contacts")
    assert caught.value.retry_after == 10.0


def test_daily_429_is_budget_exhausted_until_midnight(hubspot_emulator_factory: Factory) -> None:
    """A DAILY 429 raises BudgetExhausted resuming at the next midnight of a UTC portal."""
    emu = hubspot_emulator_factory(daily_limit=2, time_zone="UTC")
    for _ in range(2):  # another integration spends the portal's day
        requests.get(
            f"{emu.url}/crm/v3/properties/contacts",
            headers={"Authorization": f"Bearer {emu.token}"},
            timeout=5,
        ).raise_for_status()
    with pytest.raises(BudgetExhausted) as caught:
        connector(emu).write("contacts", [WriteItem("k", {"email": "a@example.com"})])
    resume = caught.value.resume_at
    now = datetime.now(tz=UTC)
    assert (resume.hour, resume.minute) == (0, 0) and now < resume <= now + timedelta(days=1)


def test_daily_share_stops_before_the_portal_limit(hubspot_emulator_factory: Factory) -> None:
    """With daily_share 0.5 of a 10-call day, the sixth call is refused locally."""
    emu = hubspot_emulator_factory(daily_limit=10)
    conn = connector(emu, daily_share=0.5)
    for _ in range(5):
        conn.describe("contacts")
    with pytest.raises(BudgetExhausted) as caught:
        conn.describe("contacts")
    assert caught.value.code == "DAILY_SHARE"
    assert calls(emu)[LIST_PROPS] == 5


def test_search_429_is_retriable_after_one_second(hubspot_emulator_factory: Factory) -> None:
    """A SECONDLY (search) 429 raises Retriable(retry_after=1)."""
    clock = FakeClock()
    emu = hubspot_emulator_factory(clock=clock, search_per_second=2)
    conn = connector(emu, clock=clock, waiter=clock.wait, search_per_second=10)
    with pytest.raises(Retriable) as caught:
        for i in range(3):
            conn.lookup("companies", "domain", [f"d{i}.example"])
    assert (caught.value.code, caught.value.retry_after) == ("SECONDLY", 1.0)


def test_server_error_is_retriable(hubspot_emulator: HubSpotEmulator) -> None:
    """A 503 raises Retriable."""
    faults(hubspot_emulator, {"match": LIST_PROPS, "status": 503})
    with pytest.raises(Retriable):
        connector(hubspot_emulator).describe("contacts")


def test_connection_reset_is_retriable(hubspot_emulator: HubSpotEmulator) -> None:
    """A dropped connection raises Retriable."""
    faults(hubspot_emulator, {"match": LIST_PROPS, "kind": "reset"})
    with pytest.raises(Retriable) as caught:
        connector(hubspot_emulator).describe("contacts")
    assert caught.value.code == "CONNECTION"


def test_unreachable_portal_is_retriable() -> None:
    """Nothing listening: Retriable, and check() says to look at the url."""
    conn = HubSpotConnector(url="http://127.0.0.1:9", token="pat-x", timeout_s=2)
    with pytest.raises(Retriable):
        conn.describe("contacts")
    [problem] = conn.check()
    assert "http://127.0.0.1:9" in problem


def test_bad_token_is_fatal(hubspot_emulator: HubSpotEmulator) -> None:
    """A 401 raises Fatal telling what to check; check() reports it."""
    conn = HubSpotConnector(url=hubspot_emulator.url, token="pat-wrong")
    with pytest.raises(Fatal) as caught:
        conn.describe("contacts")
    assert "access token" in caught.value.message
    assert any("access token" in p for p in conn.check())


def test_rotated_token_is_picked_up_once(hubspot_emulator: HubSpotEmulator) -> None:
    """After a 401 the token is re-resolved; a rotated secret makes the call succeed."""
    conn = HubSpotConnector(
        url=hubspot_emulator.url, token="pat-old", token_source=lambda: hubspot_emulator.token
    )
    assert "email" in conn.describe("contacts").fields
    assert conn.calls[LIST_PROPS] == 2
