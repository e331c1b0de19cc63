"""End to end (issue 18): the insights pass keeps the CRMs' wires busy, not idle, and sends
nothing the customers push already wrote. Counted by the emulators, never timed."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from consent.erasure.model import SubjectIds
from consent.erasure.service import desk_for, processor_for
from insights.ledger import ORDERS, get_value
from insights.refresh import InsightsRefresh, RefreshSummary
from insights.support import SUPPORT
from store.models import RunStatus
from tests.e2e.conftest import E2E, FAST_RETRY
from tests.e2e.insights_support import (
    backfill,
    hubspot_contacts,
    hubspot_ticket,
    seeded_orders_of,
)

BATCH_READ = "POST /crm/v3/objects/{object_type}/batch/read"
ASSOC_READ = "POST /crm/v4/associations/{from_type}/{to_type}/batch/read"
BATCH_UPDATE = "POST /crm/v3/objects/{object_type}/batch/update"
#: every read-back route of the HubSpot emulator (engagement, tickets, NPS answers)
READ_BACKS = {"POST /crm/*/batch/read": 200}
#: Salesforce's Cases query and its insight updates by id
SALESFORCE_SLOW = {"GET /services/data/*/query*": 300, "PATCH /services/data/*/composite/*": 300}


@contextmanager
def _slow(emulator: Any, plan: dict[str, int]) -> Iterator[None]:
    """``plan`` on ``emulator`` with its peak of calls in flight counted from zero."""
    emulator.set_latency(plan)
    emulator.peak_in_flight = 0
    try:
        yield
    finally:
        emulator.set_latency(None)


@contextmanager
def _together(*emulators: Any) -> Iterator[list[int]]:
    """Counts the samples (every 2 ms) at which every one of ``emulators`` serves a call."""
    seen = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.002):
            if all(emulator.in_flight for emulator in emulators):
                seen[0] += 1

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


def _refresh(e2e: E2E, *, full: bool, pieces: int | None = None, **changes: Any) -> RefreshSummary:
    """One insights pass; ``pieces``: the HubSpot connector's ids per read and write call."""
    runner = e2e.runner()
    try:
        if pieces is not None:
            hubspot = runner.connector("hubspot")
            hubspot.read_chunk = pieces  # type: ignore[attr-defined]
            hubspot.write_chunk = pieces  # type: ignore[attr-defined]
        refresh = dataclasses.replace(InsightsRefresh.for_runner(runner), **changes)
        [summary] = refresh.run(full=full)
        return summary
    finally:
        runner.close()


def _grown(before: dict[str, int], after: dict[str, int], key: str) -> int:
    return after.get(key, 0) - before.get(key, 0)


def test_read_backs_are_in_flight_together(e2e: E2E) -> None:
    """Engagement, tickets and NPS reads of 10-id pieces overlap (peak in flight > 2 at
    HubSpot) and overlap Salesforce's Cases query, with exactly one engagement batch read
    per piece: no call added."""
    backfill(e2e)
    linked = len(e2e.records("hubspot", "contacts"))
    before = e2e.calls("hubspot")
    stack = e2e.stack
    with _slow(stack.hubspot, READ_BACKS), _slow(stack.salesforce, SALESFORCE_SLOW):
        with _together(stack.hubspot, stack.salesforce) as both:
            summary = _refresh(e2e, full=True, pieces=10)
        peak = stack.hubspot.peak_in_flight
    after = e2e.calls("hubspot")

    assert not summary.errors
    assert peak > 2  # the serial pass never had more than one call in flight
    assert both[0] > 0  # nor a call at both CRMs at once
    pieces = -(-linked // 10)
    # one batch read per piece for engagement, plus the tickets' and answers' reads
    assert _grown(before, after, BATCH_READ) >= pieces
    assert _grown(before, after, ASSOC_READ) == 2 * pieces  # tickets + answers per piece


def test_insights_push_sends_its_batches_concurrently(e2e: E2E) -> None:
    """A year later every customer's recency moved: the pass's contact updates go out in
    10-record batches with several in flight at once, one call per batch, while the
    Salesforce push runs."""
    backfill(e2e)
    later = datetime.now(UTC) + timedelta(days=400)
    before = e2e.calls("hubspot")
    # not a forced full pass, and no read-back due: the push is the only traffic
    runner = e2e.runner()
    settings = runner.config.insights.model_copy(
        update={"engagement_every_minutes": 10**9, "support_every_minutes": 10**9}
    )
    config = runner.config.model_copy(update={"insights": settings})
    runner.close()
    stack = e2e.stack
    with (
        _slow(stack.hubspot, {"POST /crm/v3/objects/*/batch/update": 200}),
        _slow(stack.salesforce, SALESFORCE_SLOW),
        _together(stack.hubspot, stack.salesforce) as both,
    ):
        summary = _refresh(e2e, full=False, pieces=10, clock=lambda: later, config=config)
        peak = stack.hubspot.peak_in_flight
    after = e2e.calls("hubspot")

    written = summary.pushed["customers-to-hubspot"]["written"]
    assert summary.full and summary.engaged == summary.supported == 0
    assert written > 20 and summary.pushed["customers-to-salesforce"]["written"] > 0
    assert peak > 1
    assert both[0] > 0  # the two CRMs' pushes overlap
    assert _grown(before, after, BATCH_UPDATE) == -(-written // 10)


def test_the_pass_after_a_backfill_writes_nothing_the_customers_push_wrote(e2e: E2E) -> None:
    """The orders reach the ledger before the customers push, so the contacts already carry
    their final LTV and RFM: the insights pass after the backfill sends 0 contact updates
    (and no write call) to either CRM."""
    e2e.sync()
    hubspot, salesforce = e2e.calls("hubspot"), e2e.calls("salesforce")

    summary = _refresh(e2e, full=False)

    assert summary.recomputed > 0 and not summary.errors
    for name in ("customers-to-hubspot", "customers-to-salesforce"):
        assert summary.pushed[name]["written"] == 0, summary.pushed[name]
        assert summary.pushed[name]["unchanged"] > 0
    assert _grown(hubspot, e2e.calls("hubspot"), BATCH_UPDATE) == 0
    grown = {k: v - salesforce.get(k, 0) for k, v in e2e.calls("salesforce").items()}
    assert not [k for k, v in grown.items() if v and ("PATCH" in k or "composite" in k)]
    with_ltv = [
        c
        for c in e2e.records("hubspot", "contacts")
        if c["properties"].get("b2c_ltv") not in (None, "", "0", "0.0", "0.00")
    ]
    assert with_ltv  # the values are in the CRM: written by the customers push


def test_the_orders_read_ahead_keeps_an_erased_persons_orders_out(e2e: E2E) -> None:
    """The customers run reads the orders ahead into the ledger through the orders pipeline's
    tombstone hook: everyone's orders arrive before the orders run, the erased person's never."""
    runner = e2e.runner()
    try:
        person = next(
            c for c in e2e.records("b2connect", "customers") if seeded_orders_of(e2e, c["id"])
        )
        intake = desk_for(runner).file(SubjectIds(customer_id=person["id"]))
        assert intake.request_id is not None
        processor_for(runner).process(intake.request_id)
        [summary] = [runner.run_pipeline(runner.config.pipeline("customers-to-hubspot"))]
        with runner.db.connect() as conn:
            owners = {row[0] for row in conn.execute(sa.select(ORDERS.c.customer_key))}
    finally:
        runner.close()

    assert summary.status is RunStatus.SUCCEEDED
    assert person["id"] not in owners
    others = {o["customerId"] for o in e2e.stack.seed_data.orders} - {person["id"]}
    assert others <= owners  # read ahead: the orders pipeline has not run yet


def test_a_failed_piece_leaves_its_whole_read_for_the_next_pass(e2e: E2E) -> None:
    """HubSpot refuses one later piece of the tickets read: none of that read is recorded
    (a ticket of the first piece neither) and it is not marked read; the other reads are."""
    backfill(e2e)
    contacts = hubspot_contacts(e2e)
    first = min(contacts.values(), key=lambda c: str(c["id"]))  # in the first 10-id piece
    hubspot_ticket(e2e, first["id"])
    e2e.faults("hubspot", [{"match": ASSOC_READ, "status": 400, "after": 2, "times": 1}])
    summary = _refresh(e2e, full=True, pieces=10)

    tenant = summary.tenant_id
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            rows = conn.execute(sa.select(SUPPORT.c.source)).all()
            marks = {
                kind: get_value(conn, f"insights:{kind}_read:{tenant}:hubspot")
                for kind in ("engagement", "support")
            }
    finally:
        runner.close()
    assert ("hubspot",) not in rows
    assert summary.supported == 0
    assert marks["support"] is not None and marks["engagement"] is not None
    assert marks["support"] < marks["engagement"]  # still the backfill's read


def test_an_order_changed_while_the_pass_pushes_leaves_its_customer_dirty(e2e: E2E) -> None:
    """The insights pass may run beside an orders pipeline (`b2sync sync` starts it once the
    customers pipelines are done): an order that changes after the pass read a customer's
    orders, while its push is on the wire, must not have its dirty mark cleared by that
    page's commit; the next pass recomputes the customer and pushes the new value."""
    from insights.ledger import dirty_keys

    backfill(e2e)
    assert e2e.stack.seed_data is not None
    cancellable = ("pending", "confirmed", "processing")
    live = [o for o in e2e.stack.seed_data.orders if o["status"] in cancellable]
    key = next(k for k in (o["customerId"] for o in live) if
               sum(1 for o in live if o["customerId"] == k) >= 2)  # fmt: skip
    first, second = [o for o in live if o["customerId"] == key][:2]
    shop = e2e.stack.b2connect
    shop.admin_patch("orders", first["id"], {"status": "cancelled"})
    assert all(s.status is RunStatus.SUCCEEDED for s in e2e.sync("orders-to-hubspot"))
    engine = sa.create_engine(e2e.config.state_url)
    with engine.connect() as conn:
        assert key in dirty_keys(conn, _tenant(e2e))

    hubspot = e2e.stack.hubspot
    outcome: list[RefreshSummary] = []
    before = e2e.calls("hubspot").get(BATCH_UPDATE, 0)
    with _slow(hubspot, {"POST /crm/v3/objects/*/batch/update": 1500}):
        pass_ = threading.Thread(target=lambda: outcome.append(_refresh(e2e, full=False)))
        pass_.start()
        while e2e.calls("hubspot").get(BATCH_UPDATE, 0) == before:  # the push is on the wire
            assert pass_.is_alive(), "the pass ended without pushing"
            threading.Event().wait(0.02)
        shop.admin_patch("orders", second["id"], {"status": "cancelled"})
        assert all(s.status is RunStatus.SUCCEEDED for s in e2e.sync("orders-to-salesforce"))
        pass_.join()
    assert outcome and outcome[0].recomputed >= 1
    with engine.connect() as conn:
        assert key in dirty_keys(conn, _tenant(e2e))  # marked after the pass read it

    again = _refresh(e2e, full=False)  # the new value goes out with the next pass
    assert again.recomputed >= 1 and again.pushed["customers-to-hubspot"]["written"] >= 1
    with engine.connect() as conn:
        assert key not in dirty_keys(conn, _tenant(e2e))
    engine.dispose()


def _tenant(e2e: E2E) -> str:
    """The B2Connect tenant the e2e config reads."""
    runner = e2e.runner()
    try:
        return runner.tenant_of(runner.config.pipeline("orders-to-hubspot"))
    finally:
        runner.close()


def _whole_reads(e2e: E2E, runner: Any) -> dict[str, int]:
    """B2Connect's delta calls of one whole read of each stream, from the start."""
    delta = "GET /api/crm/{entity}/delta"
    reader = runner.connector("shop")
    pages = {}
    for stream in ("customers", "orders"):
        start = e2e.calls("b2connect").get(delta, 0)
        for _page in reader.read_changes(stream, None):
            pass
        pages[stream] = e2e.calls("b2connect").get(delta, 0) - start
    return pages


def test_customers_runs_side_by_side_read_the_orders_ahead_once(e2e: E2E) -> None:
    """The customers runs of both CRMs start side by side (`sync.runner.side_by_side`, as
    `b2sync sync` runs them) and both read the orders ahead before their first flush: one
    reads them, the other goes on from where it ended (one empty page), instead of reading
    and feeding every order a second time beside it. Counted in B2Connect's delta calls."""
    from b2sync.runtime import build_runner
    from sync.runner import side_by_side

    delta = "GET /api/crm/{entity}/delta"
    shop = {"b2connect": {"batch_size": 20}}  # several pages of each stream
    e2e.stack.set_latency({"b2connect": 50})  # the two read-aheads overlap in time
    runner = build_runner(e2e.config, retry=FAST_RETRY, connector_options=shop)
    try:
        before = e2e.calls("b2connect").get(delta, 0)
        pipes = runner.select(["customers-to-hubspot", "customers-to-salesforce"])
        summaries = side_by_side(pipes, runner.run_pipeline)
        during = e2e.calls("b2connect").get(delta, 0) - before
        assert [s.status for s in summaries] == [RunStatus.SUCCEEDED] * 2
        pages = _whole_reads(e2e, runner)
    finally:
        runner.close()
        e2e.stack.set_latency({"b2connect": 0})
    assert pages["orders"] >= 3, pages
    # each customers run reads its stream; the orders once, then one empty page from its end
    assert during == 2 * pages["customers"] + pages["orders"] + 1, (during, pages)


def test_a_customers_run_waiting_for_the_read_ahead_goes_on_from_its_end_beside_orders(
    e2e: E2E,
) -> None:
    """As `b2sync sync` runs a backfill: both customers runs and the HubSpot orders run (it
    only associates with its contacts) start together. The orders run moves its cursor while
    the first customers run reads the orders ahead; the second customers run, which waited
    for that read, goes on from where it ended (one empty page) and not from the orders
    run's cursor, from where it read and fed most orders a second time. Counted in
    B2Connect's delta calls."""
    from b2sync.runtime import build_runner
    from sync.runner import side_by_side

    delta = "GET /api/crm/{entity}/delta"
    shop = {"b2connect": {"batch_size": 20}}  # several pages of each stream
    orders = e2e.config.pipeline("orders-to-hubspot").model_copy(update={"batch_size": 20})
    config = e2e.config.model_copy(
        update={"pipelines": [orders if p.name == orders.name else p for p in e2e.config.pipelines]}
    )
    # the read-ahead takes a while, the orders run commits a page at a time meanwhile
    e2e.stack.set_latency({"b2connect": 60, "hubspot": {"POST /crm/v3/objects/*/batch/*": 150}})
    runner = build_runner(config, retry=FAST_RETRY, connector_options=shop)
    try:
        before = e2e.calls("b2connect").get(delta, 0)
        pipes = runner.select(["customers-to-hubspot", "customers-to-salesforce", orders.name])
        summaries = side_by_side(pipes, runner.run_pipeline, early=True)
        during = e2e.calls("b2connect").get(delta, 0) - before
        assert [s.status for s in summaries] == [RunStatus.SUCCEEDED] * 3
        pages = _whole_reads(e2e, runner)
    finally:
        runner.close()
        e2e.stack.set_latency({"b2connect": 0, "hubspot": 0})
    assert pages["orders"] >= 3, pages
    # each customers run reads its stream and the orders run its own; the orders are read
    # ahead once, then one empty page from where that read ended
    assert during == 2 * pages["customers"] + 2 * pages["orders"] + 1, (during, pages)
