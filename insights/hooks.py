"""Record hooks that wire the insights into every pipeline run (see :mod:`sync.hooks`).

- **orders** pipelines: each order read from B2Connect goes into the ledger (upsert; a deleted
  order is removed) and its customer is marked dirty. The records go on unchanged.
- **customers** pipelines that map ``insights.*`` fields: each customer is recorded (B2B flag,
  registration date) and gets an ``insights`` object in its fields, computed from the ledger
  with the stored population cut points (established from the ledger when none exist, or when
  the stored ones come from an empty ledger), so the YAML maps ``insights.ltv`` and friends
  like any source field (mapped, hashed, only changed fields sent).

Before a customers run scores its first flush, the orders the tenant's orders pipeline has not
read yet are read ahead into the ledger (:attr:`sync.hooks.HookContext.upcoming`: from that
pipeline's cursor, through its hooks as a dry run), so a backfill's customers push already
carries the final LTV and RFM values and the refresh pass after the orders writes nothing for
them. Customers whose orders changed but whose own record did not are re-pushed by the
refresh pass (:class:`insights.refresh.InsightsRefresh`), which the daemon runs after the
orders pipelines and ``b2sync insights refresh`` runs by hand.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from connectors.errors import ConnectorError
from connectors.records import Record
from insights.acquisition import Acquisition, acquisitions, cac_table
from insights.compute import (
    aggregate_metrics,
    lifetime_values,
    load_population,
    refresh_population,
    score_customers,
)
from insights.engagement import recent_engagement
from insights.errors import InsightsError
from insights.ledger import (
    CustomerRow,
    get_value,
    remove_orders,
    set_value,
    touch_customers,
    upsert_orders,
)
from insights.lifecycle import PopulationThresholds, is_b2b, population_thresholds
from insights.orders import OrderFact, order_fact, parse_time
from insights.push import insight_mapping
from insights.support import support_signals
from mapping.config import Config, InsightsConfig, Pipeline
from store import begin_write
from store.models import Side
from sync import state
from sync.hooks import HookContext, RecordHook

__all__ = ["insights_hook"]

#: where the last read-ahead of an orders pipeline started (its cursor then) and ended
_READ_AHEAD = "insights:orders_read_ahead:{pipeline}"
#: one lock per (store, tenant, orders pipeline): one read-ahead at a time (:func:`_reader_key`)
_READERS: dict[str, threading.Lock] = {}
#: per (store, tenant, orders pipeline): how many read-aheads ended in this process, and
#: where the last one ended (its cursor, in a 1-tuple: None is a cursor too)
_ENDED: dict[str, tuple[int, tuple[Any] | None]] = {}
_READERS_LOCK = threading.Lock()

log = structlog.get_logger(__name__)


def _orders_hook(ctx: HookContext, records: list[Record]) -> list[Record]:
    if ctx.origin != "b2connect" or ctx.dry_run:
        return records
    _feed_ledger(ctx, records)
    return records


def _feed_ledger(ctx: HookContext, records: list[Record]) -> None:
    """Orders into the ledger (a deleted order removed), their customers marked dirty."""
    facts: list[OrderFact] = []
    removed: list[str] = []
    skipped = 0
    for record in records:
        if record.deleted:
            removed.append(record.key)
            continue
        if "_invalid" in record.fields:
            continue
        try:
            facts.append(order_fact({**record.fields, "id": record.fields.get("id") or record.key}))
        except InsightsError:
            skipped += 1
    with begin_write(ctx.db) as conn:
        upsert_orders(conn, ctx.tenant_id, facts, ctx.now)
        if removed:
            remove_orders(conn, ctx.tenant_id, removed)
    if skipped:
        log.warning("insights.orders_skipped", count=skipped)


def _orders_ahead(config: Config, ctx: HookContext) -> None:
    """Feed the ledger the orders the tenant's orders pipeline has not read yet, before the
    customers are scored: the customers push then carries their final values, and the
    refresh pass after the orders has nothing left to write for them.

    Read from that pipeline's cursor, which does not move (its own run reads them again: an
    idempotent upsert), through its hooks as a dry run (an erased person's orders stay out);
    a second customers run before the orders run (the other CRM's) goes on from where this
    read ended, and so does one that waited for this read while an orders run went on
    beside them (see :func:`_read_ahead`). A read that fails only costs the head start: the
    orders run feeds the ledger as always."""
    if ctx.upcoming is None:
        return
    source = ctx.pipeline.b2connect.connection
    orders = next(
        (
            p
            for p in config.pipelines
            if p.enabled and p.b2connect.stream == "orders" and p.b2connect.connection == source
        ),
        None,
    )
    if orders is None:
        return
    key = _reader_key(ctx, orders.name)
    with _READERS_LOCK:
        lock = _READERS.setdefault(key, threading.Lock())
        seen = _ENDED.get(key, (0, None))[0]
    with lock:  # the other CRM's customers run goes on after it
        ended = _ENDED.get(key)
        after = ended[1] if ended is not None and ended[0] > seen else None
        end = _read_ahead(ctx, orders, after=after)
        with _READERS_LOCK:
            _ENDED[key] = ((ended or (0, None))[0] + 1, (end,))


def _reader_key(ctx: HookContext, pipeline: str) -> str:
    """One read-ahead at a time per (store, tenant, orders pipeline) in this process: the
    customers runs of both CRMs start side by side, and the second, once the first is done,
    reads on from where it ended (nothing, on a backfill) instead of parsing and feeding
    every order a second time beside it."""
    return f"{ctx.db.url.render_as_string(hide_password=True)}|{ctx.tenant_id}|{pipeline}"


def _read_ahead(ctx: HookContext, orders: Pipeline, *, after: tuple[Any] | None = None) -> Any:
    """Feed the ledger ``orders``' changes after its cursor, or after the last read-ahead
    from that same cursor, or (``after``) after the end of a read-ahead that ended while
    this run waited for it: the ledger then holds every order up to a point later than this
    run's start, whatever the orders pipeline's cursor says (an orders run beside the
    customers runs moves it meanwhile, and reading from there would feed most orders a
    second time). Remember where this one ended; return that cursor."""
    assert ctx.upcoming is not None
    mark = _READ_AHEAD.format(pipeline=orders.name)
    with ctx.db.connect() as conn:
        stored = state.get_cursor(conn, orders.name, orders.b2connect.stream, Side.B2CONNECT)
        before = json.loads(get_value(conn, mark) or "{}")
    if after is not None:
        start = after[0]
    else:
        start = before.get("to") if "from" in before and before["from"] == stored else stored
    fed, end = 0, start
    try:
        for records, cursor in ctx.upcoming(orders.name, start):
            _feed_ledger(ctx, records)
            fed, end = fed + len(records), cursor or end
    except ConnectorError as exc:
        log.warning("insights.orders_read_ahead_failed", pipeline=orders.name, error=str(exc))
    with begin_write(ctx.db) as conn:
        set_value(conn, mark, json.dumps({"from": stored, "to": end}, sort_keys=True, default=str))
    log.info("insights.orders_read_ahead", pipeline=orders.name, records=fed)
    return end


def _registered(record: Record) -> datetime | None:
    raw = record.fields.get("createdAt")
    try:
        return parse_time(raw, record.key, "createdAt") if raw else None
    except InsightsError:
        return None


def _first_population(ctx: HookContext, settings: InsightsConfig) -> PopulationThresholds:
    """Cut points from the whole ledger's lifetime values, stored unless this is a dry run."""
    with begin_write(ctx.db) as conn:
        values = lifetime_values(conn, ctx.tenant_id, settings=settings)
        if ctx.dry_run:
            zero = Decimal(0)
            return (
                population_thresholds(values, settings)
                if values
                else PopulationThresholds((zero, zero, zero, zero), zero)
            )
        return refresh_population(conn, ctx.tenant_id, values, now=ctx.now, settings=settings)


def _acquisitions(
    ctx: HookContext, settings: InsightsConfig, keys: list[str]
) -> dict[str, Acquisition]:
    """The customers' cohort, channel and CAC (new-customer counts stored unless dry run)."""
    if settings.marketing_spend is None or not keys:
        return {}
    with begin_write(ctx.db) as conn:
        table = cac_table(conn, ctx.tenant_id, settings, recount=False, save=not ctx.dry_run)
        return acquisitions(conn, ctx.tenant_id, table, keys)


def _customers_hook(config: Config) -> RecordHook:
    settings = config.insights
    ahead: list[bool] = []  # the orders were read ahead (once per run: one hook per run)

    def hook(ctx: HookContext, records: list[Record]) -> list[Record]:
        if ctx.origin != "b2connect":
            return records
        live = [r for r in records if not r.deleted and "_invalid" not in r.fields]
        if not live:
            return records
        if not (ahead or ctx.dry_run):
            ahead.append(True)
            _orders_ahead(config, ctx)
        keys = [r.key for r in live]
        b2b = {r.key: is_b2b(r.fields) for r in live}
        if not ctx.dry_run:
            with begin_write(ctx.db) as conn:
                rows = [CustomerRow(r.key, b2b[r.key], _registered(r)) for r in live]
                touch_customers(conn, ctx.tenant_id, rows)
        with ctx.db.connect() as conn:
            metrics, errors = aggregate_metrics(
                conn, ctx.tenant_id, now=ctx.now, settings=settings, keys=keys
            )
            stored = load_population(conn, ctx.tenant_id)
            engagement = recent_engagement(
                conn, ctx.tenant_id, keys, now=ctx.now, days=settings.lead_activity_days
            )
            support = support_signals(
                conn, ctx.tenant_id, keys, now=ctx.now, days=settings.support_days
            )
        # no cut points yet, or only ones from an empty ledger (customers pipelines run before
        # the orders): establish them from the ledger as it is now, as the refresh pass would
        fresh = stored is None or not int(stored[1].get("size", 0))
        population = _first_population(ctx, settings) if fresh or stored is None else stored[0]
        good = [k for k in keys if k not in errors]
        acquired = _acquisitions(ctx, settings, good)
        scored = {
            s.key: s
            for s in score_customers(
                good,
                metrics,
                b2b,
                population=population,
                now=ctx.now,
                config=settings,
                engagement=engagement,
                acquisitions=acquired,
                support=support,
            )
        }
        out: list[Record] = []
        for record in records:
            found = scored.get(record.key)
            if found is None or record.deleted:
                out.append(record)
            else:
                fields = {**record.fields, "insights": found.fields}
                out.append(dataclasses.replace(record, fields=fields))
        return out

    return hook


def insights_hook(config: Config, pipeline: Pipeline) -> RecordHook | None:
    """The hook of ``pipeline`` (orders: ledger; customers with insight fields: enrich)."""
    if not config.insights.enabled:
        return None
    stream = pipeline.b2connect.stream
    if stream == "orders":
        return _orders_hook
    if stream == "customers" and insight_mapping(pipeline) is not None:
        return _customers_hook(config)
    return None
