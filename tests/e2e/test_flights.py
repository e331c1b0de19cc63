"""Flushes of one push in flight together (issue 18): the next flush is planned and sent while
the one before is still being written, through the real SDK against the HubSpot emulator;
the same records and calls as one flush at a time, and the cursor covers every flush."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from connectors.b2connect import B2ConnectConnector
from tests.e2e.conftest import E2E, by_key
from tests.e2e.test_concurrent_backfill import route_peaks, with_concurrency

UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"
#: orders per flush: one orders batch and (about 2.5 lines an order) one line-items batch
FLUSH = 20


def _small_flushes(e2e: E2E, monkeypatch: pytest.MonkeyPatch) -> None:
    """orders-to-hubspot flushes ``FLUSH`` orders at a time (B2Connect's change feed serves
    pages of ``FLUSH``: a flush is never less than a page)."""
    real = B2ConnectConnector.__init__

    def small_pages(self: B2ConnectConnector, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **{**kwargs, "batch_size": FLUSH})

    monkeypatch.setattr(B2ConnectConnector, "__init__", small_pages)
    text = e2e.config_path.read_text(encoding="utf-8")
    marker = "  - name: orders-to-hubspot\n"
    assert text.count(marker) == 1
    e2e.config_path.write_text(
        text.replace(marker, f"{marker}    batch_size: {FLUSH}\n"), encoding="utf-8"
    )
    with_concurrency(e2e, 4)  # re-reads the config


def orders_refused_from_the_fourth_upsert(e2e: E2E, *, latency_ms: int) -> Any:
    """Run orders-to-hubspot while HubSpot refuses every upsert from the fourth on (403), at
    ``latency_ms``; the run's summary, checked failed (faults and latency cleared after)."""
    e2e.faults("hubspot", [{"match": UPSERT, "kind": "status", "status": 403, "after": 3}])
    e2e.stack.set_latency({"hubspot": latency_ms})
    try:
        (failed,) = e2e.sync("orders-to-hubspot")
    finally:
        e2e.stack.set_latency({"hubspot": 0})
        e2e.faults("hubspot", [])
    assert failed.status.value in ("failed", "paused"), failed.status
    return failed


def test_the_next_flush_is_written_while_the_one_before_is_in_flight(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backfill of several flushes, each one write batch per stage (so a flush alone has
    one upsert in flight at a time): under HubSpot latency two flushes' upserts are in
    flight together, the calls stay one per batch, every order is written once with its
    lines, and a rerun finds nothing to write (the cursor and links cover every flush)."""
    _small_flushes(e2e, monkeypatch)
    (customers,) = e2e.sync("customers-to-hubspot")
    assert customers.status.value == "succeeded", customers.error
    assert route_peaks(e2e, "hubspot")[UPSERT] == 1  # 40 contacts: one batch
    before = Counter(e2e.calls("hubspot"))
    e2e.stack.set_latency({"hubspot": 100})
    try:
        (orders,) = e2e.sync("orders-to-hubspot")
    finally:
        e2e.stack.set_latency({"hubspot": 0})
    assert orders.status.value == "succeeded", orders.error
    shop_orders = e2e.records("b2connect", "orders")
    flushes = -(-len(shop_orders) // FLUSH)
    assert flushes >= 3
    calls = Counter(e2e.calls("hubspot"))
    calls.subtract(before)
    # one orders batch and one line-items batch per flush (no flush has more than 100 lines)
    lines = sum(len(o.get("items") or []) for o in shop_orders)
    assert lines <= 100 * flushes
    assert calls[UPSERT] == 2 * flushes, calls
    assert route_peaks(e2e, "hubspot")[UPSERT] >= 2  # flushes in flight together
    written = by_key(e2e.records("hubspot", "orders"), "b2connect_id")
    assert sorted(written) == sorted(str(o["id"]) for o in shop_orders)
    assert all(len(v) == 1 for v in written.values())
    assert len(e2e.records("hubspot", "line_items")) == lines
    assert orders.counts["written"] == len(shop_orders)
    (again,) = e2e.sync("orders-to-hubspot")
    assert again.status.value == "succeeded", again.error
    assert again.counts["written"] == 0
    assert again.counts["read"] == 0


def test_a_flush_failing_beside_another_commits_nothing_past_it(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HubSpot refuses every upsert from the fourth on while two flushes are in flight: the
    run fails, and the rerun (faults gone) leaves every order and line in HubSpot exactly
    once: the cursor passed no flush whose batches were not acknowledged."""
    _small_flushes(e2e, monkeypatch)
    (customers,) = e2e.sync("customers-to-hubspot")
    assert customers.status.value == "succeeded", customers.error
    failed = orders_refused_from_the_fourth_upsert(e2e, latency_ms=50)
    shop_orders = e2e.records("b2connect", "orders")
    assert failed.counts["written"] < len(shop_orders)
    (again,) = e2e.sync("orders-to-hubspot")
    assert again.status.value == "succeeded", again.error
    assert 0 < again.counts["read"] <= len(shop_orders)
    written = by_key(e2e.records("hubspot", "orders"), "b2connect_id")
    assert sorted(written) == sorted(str(o["id"]) for o in shop_orders)
    assert all(len(v) == 1 for v in written.values())
    lines = sum(len(o.get("items") or []) for o in shop_orders)
    items = by_key(e2e.records("hubspot", "line_items"), "b2connect_id")
    assert len(items) == lines
    assert all(len(v) == 1 for v in items.values())
    (rest,) = e2e.sync("orders-to-hubspot")
    assert rest.counts["read"] == 0
