"""Shared API budgets: many threads, one governor; even pacing, adaptive concurrency.

The HubSpot governor and the Salesforce budget implement ``connectors.budget.ApiBudget``;
several threads of one process share one of them. Checked by counts (calls, 429s, slots),
never by wall-clock time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.budget import AdaptiveConcurrency, ApiBudget, TokenBucket, slot, urgent
from connectors.errors import Retriable
from connectors.hubspot import RateGovernor
from connectors.salesforce import SalesforceConnector
from emulators.hubspot import HubSpotEmulator
from emulators.salesforce import SalesforceEmulator
from tests.concurrency import busiest_window, together
from tests.connectors.hubspot_support import START, FakeClock, connector, faults
from tests.connectors.salesforce_support import connect

Factory = Callable[..., HubSpotEmulator]


def _headers(maximum: int) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Remaining": str(maximum),
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Daily": "1000000",
        "X-HubSpot-RateLimit-Daily-Remaining": "1000000",
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    maximum=st.integers(min_value=5, max_value=250),
    threads=st.integers(min_value=2, max_value=8),
    per_thread=st.integers(min_value=1, max_value=60),
)
def test_threads_sharing_a_governor_never_overfill_the_window(
    maximum: int, threads: int, per_thread: int
) -> None:
    """N threads book calls on one governor at the same instant (the worst case); the times
    they are given never put more than the window allows into any 10-second window, and
    every call gets a distinct, ordered turn."""
    now = START
    sent: list[float] = []  # when each call goes: the end of its last wait, or now
    lock = threading.Lock()
    last = threading.local()

    def waiter(seconds: float) -> None:
        last.at = now + seconds

    gov = RateGovernor(clock=lambda: now, waiter=waiter, margin_s=0.0)
    gov.observe(_headers(maximum))

    def work() -> None:
        for _ in range(per_thread):
            last.at = now
            with gov.slot(), lock:
                sent.append(last.at)

    assert not together(threads, work)
    assert len(sent) == threads * per_thread
    assert busiest_window(sent, 10.0) <= maximum - gov.reserve
    assert gov.concurrency.in_flight == 0


def test_token_bucket_spreads_calls_at_its_rate() -> None:
    """After the banked tokens, each booking is one interval after the last."""
    bucket = TokenBucket(rate=2.0, capacity=3, now=0.0)
    times = [bucket.reserve(0.0) for _ in range(7)]
    assert times == [0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0]
    assert bucket.ready_at(2.0) == 2.5


def _threads(
    conc: AdaptiveConcurrency, count: int, arrived: Callable[[], int]
) -> Callable[[], None]:
    """``count`` threads each asking ``conc`` for a slot and keeping it until released, once
    ``arrived()`` counts all of them; the function that lets them all go."""
    done = threading.Event()

    def work() -> None:
        conc.acquire()
        done.wait()
        conc.release()

    threads = [threading.Thread(target=work) for _ in range(count)]
    for t in threads:
        t.start()
    while arrived() < count:
        threading.Event().wait(0.001)

    def release() -> None:
        done.set()
        for t in threads:
            t.join(timeout=10)

    return release


def _hold(conc: AdaptiveConcurrency, count: int) -> Callable[[], None]:
    """``count`` threads each holding a slot; the function that lets them all go."""
    return _threads(conc, count, lambda: conc.in_flight)


def test_adaptive_concurrency_halves_once_per_round_and_grows_when_busy() -> None:
    """A refusal halves the cap; refusals of calls already in flight do not cut again;
    successes while every slot is busy raise it by about one per round."""
    conc = AdaptiveConcurrency(8, maximum=16)
    release = _hold(conc, 8)
    conc.on_throttle()
    conc.on_throttle()  # a second refusal from the same round
    release()
    assert conc.max_in_flight == 4
    assert conc.throttled == 1
    release = _hold(conc, 4)
    for _ in range(20):
        conc.on_success(0.1)
    release()
    assert conc.max_in_flight > 4


def test_an_urgent_call_takes_the_next_slot_before_queued_backfill_calls() -> None:
    """One slot, held; eight backfill calls wait for it, then a webhook's (urgent) call
    arrives: when the slot frees, the urgent call goes first, then the backfill's."""
    conc = AdaptiveConcurrency(1, maximum=1)
    order: list[str] = []
    lock = threading.Lock()

    def call(name: str, first: bool) -> None:
        def run() -> None:
            with urgent() if first else contextlib.nullcontext():
                conc.acquire()
            with lock:
                order.append(name)
            conc.release()

        threading.Thread(target=run).start()

    conc.acquire()  # the call in flight
    for n in range(8):
        call(f"backfill-{n}", first=False)
    while conc._waiting < 8:
        threading.Event().wait(0.001)
    call("webhook", first=True)
    while conc._waiting < 9:
        threading.Event().wait(0.001)
    conc.release()
    while len(order) < 9:
        threading.Event().wait(0.001)
    assert order[0] == "webhook"
    assert sorted(order[1:]) == [f"backfill-{n}" for n in range(8)]
    assert conc.in_flight == 0


def test_a_nested_call_does_not_take_a_second_slot() -> None:
    """A thread holding the only slot can make a nested call (no self-deadlock)."""
    conc = AdaptiveConcurrency(1, maximum=1)
    conc.acquire()
    conc.acquire()
    assert conc.in_flight == 1
    conc.release()
    conc.release()
    assert conc.in_flight == 0


def _queued(conc: AdaptiveConcurrency, count: int) -> Callable[[], None]:
    """``count`` threads asking ``conc`` for a slot (some get one, the rest wait: every slot
    busy and work queued); the function that lets them all go."""
    return _threads(conc, count, lambda: conc.in_flight + conc._waiting)


@pytest.mark.parametrize(("latency_s", "grown_to"), [(0.1, 1), (2.0, 5)])
def test_hubspot_concurrency_grows_until_the_cap_allows_the_rate(
    latency_s: float, grown_to: int
) -> None:
    """With work queued, the cap grows only while it allows fewer calls a second than the
    token bucket's rate (limit / latency < rate, with a quarter of headroom) and stops there:
    at 1.8 calls/s, 0.1 s calls never need a second slot; 2 s calls need 3.6 in flight, so
    the cap stops at 5 (the bucket, not the cap, then bounds the rate), far below the
    ceiling of 8."""
    gov = RateGovernor(clock=FakeClock(), waiter=lambda _s: None, margin_s=0.0)
    gov.observe(_headers(20))  # bucket: (19 - 1) / 10 s = 1.8 calls/s
    gov.concurrency = AdaptiveConcurrency(1, maximum=8)
    release = _queued(gov.concurrency, 10)
    try:
        for _ in range(60):
            gov.observe({}, 200, latency_s)
    finally:
        release()
    assert gov.max_in_flight == grown_to


def test_adaptive_concurrency_cuts_when_latency_climbs() -> None:
    """Latency three times its baseline cuts the cap by a quarter."""
    conc = AdaptiveConcurrency(8, maximum=16)
    for _ in range(30):
        conc.on_success(0.1)
    before = conc.max_in_flight
    for _ in range(10):
        conc.on_success(1.0)
    assert conc.slowed >= 1
    assert conc.max_in_flight < before


def test_governors_implement_the_budget_interface(tmp_path: object) -> None:
    """HubSpot's governor and Salesforce's budget are both ApiBudgets (a Redis budget can
    take their place)."""
    assert isinstance(RateGovernor(), ApiBudget)
    sf = SalesforceConnector(instance_url="https://127.0.0.1:1", session_id="x")
    try:
        assert isinstance(sf.budget, ApiBudget)
        with slot(sf.budget):
            assert sf.budget.concurrency.in_flight == 1
        assert sf.budget.concurrency.in_flight == 0
    finally:
        sf.close()


def test_eight_threads_hammering_hubspot_meet_no_429(hubspot_emulator_factory: Factory) -> None:
    """Eight threads share one connector against the portal's real limit (190 per 10 s) and
    make more calls than one window holds: the emulator sent no 429, and never more calls
    were in flight than the governor's cap."""
    emu = hubspot_emulator_factory()
    conn = connector(emu)
    per_thread = 25

    def work() -> None:
        for _ in range(per_thread):
            conn.describe("contacts")

    try:
        errors = together(8, work)
    finally:
        conn.close()
    stats = requests.get(f"{emu.url}/_emulator/stats", timeout=5).json()
    assert not errors
    assert stats["calls"]["GET /crm/v3/properties/{object_type}"] == 8 * per_thread
    assert 8 * per_thread > 190
    assert stats["rejected_429_total"] == 0
    assert stats["peak_in_flight"] <= conn.governor.concurrency.maximum


def test_a_429_halves_the_hubspot_calls_in_flight(hubspot_emulator: HubSpotEmulator) -> None:
    """A 429 from the portal (another app spent the window) leaves the governor with half
    the calls in flight it allowed before."""
    conn = connector(hubspot_emulator)
    try:
        conn.describe("contacts")
        before = conn.governor.max_in_flight
        faults(hubspot_emulator, {"match": "*", "kind": "status", "status": 429, "times": 1})
        with pytest.raises(Retriable):
            conn.describe("contacts")
        assert conn.governor.max_in_flight == before // 2
        assert conn.governor.concurrency.throttled == 1
    finally:
        conn.close()


@pytest.fixture
def slow_salesforce(salesforce_emulator: SalesforceEmulator) -> Iterator[SalesforceEmulator]:
    salesforce_emulator.set_latency({"*/sobjects/*/describe*": 100})
    yield salesforce_emulator
    salesforce_emulator.set_latency(None)


def test_salesforce_threads_stay_within_the_budget_cap(
    slow_salesforce: SalesforceEmulator,
) -> None:
    """Eight threads share one Salesforce connector whose cap is 3: the org never sees more
    than 3 calls at once (its own count), however many threads ask."""
    conn = connect(slow_salesforce)
    conn.budget.concurrency = AdaptiveConcurrency(3, maximum=3)

    def work() -> None:
        for _ in range(4):  # uncached: the connector's describe asks each object once
            conn.api.call(lambda sf: sf.Contact.describe())

    try:
        errors = together(8, work)
    finally:
        conn.close()
    assert not errors
    assert slow_salesforce.peak_in_flight == 3


def test_concurrent_long_running_refusal_halves_salesforce_calls(
    salesforce_emulator: SalesforceEmulator,
) -> None:
    """403 ConcurrentPerOrgLongTxn (too many long calls in the org) is retriable and halves
    the budget's calls in flight."""
    emu = salesforce_emulator
    conn = connect(emu)
    try:
        conn.describe("Contact")
        before = conn.budget.max_in_flight
        emu.long_running_s, emu.long_running_limit = 0.0, 0
        with pytest.raises(Retriable) as caught:
            conn.describe("Account")
    finally:
        emu.long_running_s, emu.long_running_limit = 20.0, 25
        conn.close()
    assert "long-running" in str(caught.value)
    assert conn.budget.max_in_flight == before // 2


def test_an_urgent_call_goes_before_the_backfill_calls_waiting_for_their_turn() -> None:
    """20 backfill calls wait for the token bucket's turns (10 a second); a webhook's call
    (urgent) arriving then goes out within a few turns, not after the turns the backfill's
    calls would have booked ahead of it (it went last)."""
    gov = RateGovernor(margin_s=0.0, max_in_flight=32, max_in_flight_cap=32)
    gov.observe({**_headers(12), "X-HubSpot-RateLimit-Interval-Milliseconds": "1000"})
    order: list[str] = []
    waiting: set[int] = set()
    lock = threading.Lock()
    wait = gov.waiter

    def waiter(seconds: float) -> None:
        with lock:
            waiting.add(threading.get_ident())
        wait(seconds)

    gov.waiter = waiter

    def call(name: str) -> None:
        with urgent() if name == "webhook" else contextlib.nullcontext(), gov.slot(), lock:
            order.append(name)

    backfill = [threading.Thread(target=call, args=("backfill",)) for _ in range(20)]
    for t in backfill:
        t.start()
    for _ in range(1000):
        with lock:
            if len(waiting) >= 15:
                break
        threading.Event().wait(0.005)
    webhook = threading.Thread(target=call, args=("webhook",))
    webhook.start()
    for t in [*backfill, webhook]:
        t.join(timeout=30)
    assert len(order) == 21
    assert order.index("webhook") < 8, order
