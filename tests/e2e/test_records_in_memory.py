"""The records the push runs of one process hold at once stay under its bound (issue 18: a
backfill's peak memory must not grow with the shop).

Every pipeline of the shipped config runs as `b2sync sync` runs them (both CRMs side by side,
customers beside companies and the HubSpot orders), through the real SDKs against the
emulators, with small pages and flushes so that a shop of 200 customers fills every run's
share (a buffer, two flushes in flight, one being committed). Each time a run takes in a
B2Connect page, the test counts the B2Connect records alive in the process (made by the
delta reader and not yet freed): that count, not the engine's own, is what the bound is for.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from connectors.b2connect import B2ConnectConnector
from connectors.records import Page, Record
from emulators.stack import EmulatorStack
from sync import state
from sync.push import engine
from sync.push.in_hand import ENV, IN_HAND, records_in_memory
from sync.runner import side_by_side
from tests.e2e.alive import Alive, counted_str
from tests.e2e.conftest import E2E, MASTER_KEY, by_key, fresh_e2e, stack_fixtures
from tests.e2e.test_cli_sync import B2SYNC
from tests.e2e.test_concurrent_backfill import with_concurrency
from tests.e2e.test_flights import orders_refused_from_the_fourth_upsert

#: records per B2Connect page and per flush: every run holds several flushes at once
PAGE, FLUSH = 5, 40
#: the bound under test: one flush
BOUND = 40
_CHANGE_PAGES = engine.change_pages

_shop, shop = stack_fixtures("_shop", "shop", customers=200, seed=11)


def _small(e2e: E2E, monkeypatch: pytest.MonkeyPatch, flush: int = FLUSH) -> int:
    """Pages of ``PAGE``, flushes of ``flush`` for every pipeline, concurrency 4; how many
    pipelines there are."""
    real = B2ConnectConnector.__init__

    def small_pages(self: B2ConnectConnector, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **{**kwargs, "batch_size": PAGE})

    monkeypatch.setattr(B2ConnectConnector, "__init__", small_pages)
    text = e2e.config_path.read_text(encoding="utf-8")
    names = [p.name for p in e2e.config.pipelines]
    for name in names:
        marker = f"  - name: {name}\n"
        assert text.count(marker) == 1
        text = text.replace(marker, f"{marker}    batch_size: {flush}\n")
    e2e.config_path.write_text(text, encoding="utf-8")
    with_concurrency(e2e, 4)  # re-reads the config
    return len(names)


ALIVE = Alive()
_FIELDS = [f.name for f in fields(Record)]


class _Counted(Record):
    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> _Counted:
        del args, kwargs
        ALIVE.add(1)
        return object.__new__(cls)

    def __del__(self) -> None:
        ALIVE.add(-1)


def _alive_at_each_page(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each time a push run takes in a page: the B2Connect records alive in the process.
    Every record B2Connect's connector reads is handed on as a :class:`_Counted` copy (the
    original freed at once)."""
    real_read = B2ConnectConnector.read_changes

    def read_counted(self: B2ConnectConnector, *args: Any, **kwargs: Any) -> Iterator[Page]:
        for page in real_read(self, *args, **kwargs):
            records = [_Counted(*(getattr(r, f) for f in _FIELDS)) for r in page.records]
            yield replace(page, records=records)

    monkeypatch.setattr(B2ConnectConnector, "read_changes", read_counted)
    seen: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for page in _CHANGE_PAGES(*args, **kwargs):
            seen.append(ALIVE.now)
            yield page

    monkeypatch.setattr(engine, "change_pages", counted)
    return seen


def _backfill(e2e: E2E, bound: int, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], Any]:
    """Every pipeline, as `b2sync sync` runs them, under ``bound``; the live counts per page
    and what the CRMs hold after."""
    monkeypatch.setattr(IN_HAND, "_limit", bound)
    IN_HAND.reset_peak()
    alive = _alive_at_each_page(monkeypatch)
    runner = e2e.runner()
    e2e.stack.set_latency({"hubspot": 40, "salesforce": 40})  # flushes stay in flight a while
    try:
        summaries = side_by_side(
            runner.select(None), runner.run_pipeline, start=runner.warm_up, early=True
        )
    finally:
        e2e.stack.set_latency({"hubspot": 0, "salesforce": 0})
        runner.close()
    assert all(s.status.value == "succeeded" for s in summaries), [s.error for s in summaries]
    assert IN_HAND.held == 0  # every flush given back
    written = {
        "contacts": sorted(
            (k, len(v), v[0]["properties"].get("email"))
            for k, v in by_key(e2e.records("hubspot", "contacts"), "b2connect_id").items()
        ),
        "orders": sorted(by_key(e2e.records("hubspot", "orders"), "b2connect_id")),
        "sf_contacts": sorted(by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")),
        "sf_orders": sorted(by_key(e2e.records("salesforce", "B2C_Order__c"), "B2Connect_Id__c")),
        "counts": sorted((s.pipeline, s.counts["written"], s.counts["read"]) for s in summaries),
    }
    return alive, written


@pytest.mark.slow
def test_a_backfill_holds_no_more_records_than_the_bound(
    shop: E2E, _shop: EmulatorStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the bound at one flush, the B2Connect records alive whenever a run takes in a page
    stay within the bound plus, per run, the page it takes in and the one read ahead (and the
    insights' orders read-ahead), where without it they pile up to several flushes per run;
    both backfills write the same records, each once."""
    runs = _small(shop, monkeypatch)
    bounded, written = _backfill(shop, BOUND, monkeypatch)
    assert IN_HAND.peak <= BOUND + runs * PAGE  # the engine's own count: a page over at most
    assert IN_HAND.drains > 0
    ceiling = BOUND + runs * 2 * PAGE + 2 * PAGE
    assert max(bounded) <= ceiling, (max(bounded), ceiling)

    (tmp_path / "unbounded").mkdir()
    again = next(fresh_e2e(_shop, tmp_path / "unbounded", monkeypatch))
    _small(again, monkeypatch)
    unbounded, written_unbounded = _backfill(again, 10**9, monkeypatch)
    assert IN_HAND.drains == 0
    assert max(unbounded) > ceiling, (max(unbounded), ceiling)  # what the bound prevents
    assert written == written_unbounded
    assert written["contacts"] and all(n == 1 for _, n, _ in written["contacts"])
    print("alive at a page, most:", max(bounded), "bounded;", max(unbounded), "unbounded")


def _order_contact_pairs(e2e: E2E) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(HubSpot order id, contact id) of every seeded order whose customer is a contact, and
    the order → contact associations HubSpot holds."""
    assert e2e.stack.seed_data is not None
    orders = by_key(e2e.records("hubspot", "orders"), "b2connect_id")
    contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    wanted = {
        (str(orders[o["id"]][0]["id"]), str(contacts[o["customerId"]][0]["id"]))
        for o in e2e.stack.seed_data.orders
        if o["customerId"] in contacts
    }
    edges = {
        (str(row["fromObjectId"]), str(row["toObjectId"]))
        for row in e2e.records("hubspot", "associations")
        if row["fromObjectType"] in ("orders", "0-123")
        and row["toObjectType"] in ("contacts", "0-1")
    }
    return wanted, edges


@pytest.mark.slow
def test_an_orders_run_holds_the_crm_ids_of_its_flushes_only(
    shop: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An orders run looks up the CRM id of the customer each order names: HubSpot
    associates the order with that contact, Salesforce fills the order's lookup field. Each
    time the run takes in a page, the ids alive stay within the four flushes it may hold (one
    being planned, two in flight, one committing), where before every id it had looked up stayed until the run
    ended: the CRM id of every customer with an order, a shop's worth. The orders are written
    and associated all the same."""
    flush = 10
    _small(shop, monkeypatch, flush=flush)
    alive = Alive()
    counted = counted_str(alive)
    real_link_ids = state.link_ids

    def link_ids_counted(*args: Any, **kwargs: Any) -> dict[str, str]:
        return {k: counted(v) for k, v in real_link_ids(*args, **kwargs).items()}

    monkeypatch.setattr(state, "link_ids", link_ids_counted)
    runner = shop.runner()
    shop.stack.set_latency({"hubspot": 40, "salesforce": 40})  # flushes stay in flight a while
    try:
        pipes = runner.select(None)
        for pipe in pipes:
            if pipe.b2connect.stream == "customers":
                assert runner.run_pipeline(pipe).status.value == "succeeded"
        per_run: dict[str, list[int]] = {}
        for pipe in pipes:
            if pipe.b2connect.stream == "orders":
                seen = per_run.setdefault(pipe.name, [])

                def counting(*args: Any, _seen: list[int] = seen, **kwargs: Any) -> Iterator[Any]:
                    for page in _CHANGE_PAGES(*args, **kwargs):
                        _seen.append(alive.now)
                        yield page

                monkeypatch.setattr(engine, "change_pages", counting)
                summary = runner.run_pipeline(pipe)
                assert summary.status.value == "succeeded", summary.error
    finally:
        shop.stack.set_latency({"hubspot": 0, "salesforce": 0})
        runner.close()
    assert shop.stack.seed_data is not None
    named = {o["customerId"] for o in shop.stack.seed_data.orders}
    assert len(named) > 8 * flush  # the shop's worth the old cache ended with
    assert set(per_run) == {"orders-to-hubspot", "orders-to-salesforce"}
    for name, seen in per_run.items():
        assert len(seen) > len(named) // PAGE  # many pages: a backfill of every order
        assert max(seen) <= 4 * flush, (name, max(seen))
    orders = by_key(shop.records("hubspot", "orders"), "b2connect_id")
    assert len(orders) == len(shop.stack.seed_data.orders)
    assert all(len(v) == 1 for v in orders.values())
    wanted, edges = _order_contact_pairs(shop)
    assert wanted and wanted <= edges
    sf_contacts = by_key(shop.records("salesforce", "Contact"), "B2Connect_Id__c")
    linked = by_key(shop.records("salesforce", "B2C_Order__c"), "B2Connect_Id__c")
    assert len(linked) == len(orders)
    assert all(
        linked[o["id"]][0].get("Contact__c") == sf_contacts[o["customerId"]][0]["Id"]
        for o in shop.stack.seed_data.orders
        if o["customerId"] in sf_contacts
    )


def test_a_bad_bound_refuses_to_start(e2e: E2E) -> None:
    """`b2sync sync` and `b2sync run` with ``B2SYNC_RECORDS_IN_MEMORY`` not a positive whole
    number exit 2 naming the variable, before they read or write anything."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
    env.update(e2e.stack.env())
    env["B2SYNC_MASTER_KEY"] = MASTER_KEY
    before = e2e.calls("b2connect")
    for bad in ("lots", "0", "-5"):
        result = subprocess.run(
            [B2SYNC, "sync", "--config", str(e2e.config_path)],
            env={**env, ENV: bad},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 2, (bad, result.stderr)
        assert f"{ENV}='{bad}' is not a positive whole number" in result.stderr
    daemon = subprocess.run(
        [B2SYNC, "run", "--config", str(e2e.config_path), "--listen", "127.0.0.1:0"],
        env={**env, ENV: "1.5"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert daemon.returncode == 2, daemon.stderr
    assert f"{ENV}='1.5' is not a positive whole number" in daemon.stderr
    assert e2e.calls("b2connect") == before
    assert records_in_memory({ENV: "25_000"}) == 25_000
    assert records_in_memory({}) == records_in_memory({ENV: " "}) > 0


def test_a_run_failing_under_the_bound_gives_every_record_back_and_loses_none(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HubSpot refuses every upsert from the fourth on while the orders run flushes page by
    page under a bound it keeps crossing: the run fails holding nothing (a failed run's
    records do not stay counted against the next runs), and the rerun leaves every order in
    HubSpot exactly once (a flush cut short by the bound still commits in read order)."""
    _small(e2e, monkeypatch)
    monkeypatch.setattr(IN_HAND, "_limit", PAGE)
    IN_HAND.reset_peak()
    (customers,) = e2e.sync("customers-to-hubspot")
    assert customers.status.value == "succeeded", customers.error
    assert IN_HAND.drains > 0 and IN_HAND.held == 0
    orders_refused_from_the_fourth_upsert(e2e, latency_ms=20)
    assert IN_HAND.held == 0
    shop_orders = e2e.records("b2connect", "orders")
    (again,) = e2e.sync("orders-to-hubspot")
    assert again.status.value == "succeeded", again.error
    assert IN_HAND.held == 0
    written = by_key(e2e.records("hubspot", "orders"), "b2connect_id")
    assert sorted(written) == sorted(str(o["id"]) for o in shop_orders)
    assert all(len(v) == 1 for v in written.values())


def test_a_run_whose_commit_fails_leaves_nothing_counted(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store refuses a flush's commit (``database is locked`` past its timeout): the run
    fails, and the records it held are not left counted against the process (else every
    later run of a long-lived daemon would drain at every page); the rerun writes them."""
    import sqlalchemy as sa

    from sync import state

    _small(e2e, monkeypatch)
    real = state.add_run_counts
    calls = {"n": 0}

    def locked(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise sa.exc.OperationalError("COMMIT", {}, Exception("database is locked"))
        real(*args, **kwargs)

    monkeypatch.setattr(state, "add_run_counts", locked)
    IN_HAND.reset_peak()
    (failed,) = e2e.sync("customers-to-hubspot")
    assert failed.status.value == "failed", failed.status
    assert calls["n"] >= 2
    assert IN_HAND.held == 0
    monkeypatch.setattr(state, "add_run_counts", real)
    (again,) = e2e.sync("customers-to-hubspot")
    assert again.status.value == "succeeded", again.error
    assert IN_HAND.held == 0
    contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    assert contacts and all(len(v) == 1 for v in contacts.values())


_big_shop, big_shop = stack_fixtures("_big_shop", "big_shop", customers=800, seed=5)


@pytest.mark.slow
def test_deferred_links_are_completed_a_flush_at_a_time(
    big_shop: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HubSpot orders run goes first, before any contact is linked: every order's
    association is deferred (more than 2,000 of them). After the customers run, the next
    orders run completes them a page of 2,000 at a time, each page read, completed and
    committed before the next: no read of deferred links returns more (the old page was
    10,000, so one read held them all), and every order ends associated with its contact."""
    pages: list[int] = []
    real_pending_for = state.pending_for

    def pending_for(*args: Any, **kwargs: Any) -> Any:
        rows = real_pending_for(*args, **kwargs)
        pages.append(len(rows))
        return rows

    monkeypatch.setattr(state, "pending_for", pending_for)
    first = big_shop.sync("orders-to-hubspot")[0]
    deferred = first.counts["deferred"]
    assert first.status.value == "succeeded" and deferred > 2_000, first.counts
    big_shop.sync("customers-to-hubspot")
    pages.clear()
    [again] = big_shop.sync("orders-to-hubspot")
    assert again.status.value == "succeeded", again.error
    assert again.counts["deferred_completed"] > 2_000, again.counts
    assert max(pages) <= 2_000 and len(pages) >= 2, pages
    wanted, edges = _order_contact_pairs(big_shop)
    assert len(wanted) > 2_000 and wanted <= edges
