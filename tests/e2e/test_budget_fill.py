"""The engine keeps a CRM's budget full: the calls in flight on a connection grow past their
start while the budget has room, and fall after the vendor refuses calls for their rate.

Through the runner built from the shipped config (its connection gates, its guarded
connectors, the pool a run of the pipeline gets), the real SDKs and the emulators with vendor
latency and HubSpot's real 190-per-10-s limit. Checked by counts (calls in flight as the
emulator saw them, the governor's limit, 429s), never by wall-clock time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from b2sync.runtime import build_runner
from connectors.budget import INITIAL_IN_FLIGHT
from connectors.errors import Retriable
from sync.fanout import Fanout
from sync.runner import Runner
from tests.e2e.conftest import E2E, FAST_RETRY


@pytest.fixture
def runner(e2e: E2E) -> Iterator[Runner]:
    """The runner of the shipped config with the governors' real waits (no test waiter)."""
    built = build_runner(e2e.config, retry=FAST_RETRY)
    try:
        yield built
    finally:
        built.close()
        e2e.stack.set_latency({"hubspot": 0, "salesforce": 0})


def _pool(runner: Runner, pipeline: str) -> Fanout:
    """The pool a run of ``pipeline`` sends its batches through (sized as the engine does)."""
    [pipe] = runner.select([pipeline])
    return Fanout(runner.concurrency_of(pipe))


def _call_many(runner: Runner, system: str, calls: int) -> list[Any]:
    """``calls`` one-request calls (HubSpot: a property read; Salesforce: the org's
    describe, as ``check`` makes it) through the pool of the system's customers pipeline."""
    pool = _pool(runner, f"customers-to-{system}")
    connector: Any = runner.connector(system)
    call = (lambda: connector.describe("contacts")) if system == "hubspot" else connector.check
    try:
        return pool.map(lambda _n: call(), list(range(calls)))
    finally:
        pool.close()


def test_hubspot_calls_in_flight_grow_with_room_and_halve_after_429s(
    e2e: E2E, runner: Runner
) -> None:
    """At 400 ms a call, 4 in flight make 10 calls/s of the 19/s the portal allows: the
    governor raises its limit and the portal sees more than 4 calls at once, without one 429;
    when the portal then refuses calls for their rate (another app spent the window) the
    limit is halved."""
    emu = e2e.stack.hubspot
    e2e.stack.set_latency({"hubspot": {"GET /crm/v3/properties/*": 400}})
    governor = runner.connector("hubspot").governor
    assert governor.max_in_flight == INITIAL_IN_FLIGHT
    calls = 80

    _call_many(runner, "hubspot", calls)

    stats = emu.stats()
    assert stats["calls"]["GET /crm/v3/properties/{object_type}"] == calls
    assert stats["rejected_429_total"] == 0  # 429s <= 1% of calls: none at all
    assert stats["peak_in_flight"] > INITIAL_IN_FLIGHT
    grown = governor.max_in_flight
    assert grown > INITIAL_IN_FLIGHT
    assert stats["peak_in_flight"] <= governor.concurrency.maximum

    refused = 6
    e2e.faults(
        "hubspot",
        [{"match": "*", "kind": "status", "status": 429, "times": refused}],
    )

    def refused_call(_n: int) -> bool:
        try:
            runner.connector("hubspot").describe("contacts")
        except Retriable:
            return True
        return False

    pool = _pool(runner, "customers-to-hubspot")
    try:
        outcomes = pool.map(refused_call, list(range(refused)))
    finally:
        pool.close()
    assert all(outcomes)
    assert governor.concurrency.throttled >= 1
    assert governor.max_in_flight <= max(1, grown // 2)


def test_salesforce_calls_in_flight_grow_past_the_start(
    e2e: E2E, runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    """Salesforce has no per-second limit: with 300 ms calls and more work waiting, the
    org's budget lets more than 4 calls out at once (its ceiling is the connection's
    ``concurrency``, 25 by default: the org's long-running limit) and none is refused. The
    HTTP connection pool keeps a connection per call in flight: none is opened and thrown
    away (requests keeps 10 per host unless told otherwise)."""
    caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
    emu = e2e.stack.salesforce
    e2e.stack.set_latency({"salesforce": 300})
    budget = runner.connector("salesforce").budget
    assert budget.max_in_flight == INITIAL_IN_FLIGHT

    assert _call_many(runner, "salesforce", 120) == [[]] * 120  # check(): no problems
    assert sum(emu.calls.values()) >= 120

    assert emu.peak_in_flight > INITIAL_IN_FLIGHT
    assert budget.max_in_flight > INITIAL_IN_FLIGHT
    assert emu.peak_in_flight <= budget.concurrency.maximum == 25
    assert emu.stats()["long_running"]["rejected"] == 0
    assert emu.peak_in_flight > 10
    discarded = [r for r in caplog.records if "pool is full" in r.getMessage()]
    assert not discarded
