"""Re-push recomputed ``insights.*`` fields of customers B2Connect did not change.

A new order changes its customer's insights, but the customer record itself did not change in
B2Connect, so the customers pipeline would not read it again. The refresh pass therefore
writes the insight fields of dirty customers straight to each customers pipeline's CRM:
mapped with that pipeline's own YAML lines (those whose source starts with ``insights.``),
hashed like every other field and compared with the link's last-synced hashes, so only the
fields that changed are sent, and an unchanged customer costs no call. Only customers that are
already linked are written; a new customer gets its insight fields with its first push.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
import structlog

from audit import AuditEvent
from connectors.base import Connector
from connectors.records import WriteItem, WriteResult
from insights.compute import Scored
from mapping.compiler import CompiledMapping, compile_fields
from mapping.config import INSIGHTS_PREFIX, Direction, Pipeline
from store import begin_write
from sync import state
from sync.deleted_links import deleted_links
from sync.fanout import Fanout, write_chunk
from sync.hashing import FieldHasher
from sync.plan import PARKED
from sync.retry import RetryPolicy, call

__all__ = ["INSIGHTS_PREFIX", "Pending", "PushOutcome", "insight_mapping", "push_insights"]

log = structlog.get_logger(__name__)

#: records per write call when the connector does not say (``write_chunk``)
BATCH = 100
#: rounds of ``concurrency`` batches sent before their links commit
WINDOW_BATCHES = 4


def insight_mapping(pipe: Pipeline) -> CompiledMapping | None:
    """The pipeline's field lines fed by ``insights.*`` (None when it maps none)."""
    specs = [f for f in pipe.fields if f.b2connect and f.b2connect.startswith(INSIGHTS_PREFIX)]
    return compile_fields(specs) if specs else None


@dataclass
class PushOutcome:
    """What one push of insight fields did on one pipeline."""

    counts: Counter[str] = field(default_factory=Counter)
    failed: set[str] = field(default_factory=set)
    #: customers whose fields the CRM now holds (written or already equal)
    current: set[str] = field(default_factory=set)
    #: parked links (no CRM id) whose stored insight hashes move without a write
    reparked: list[tuple[str, str | None, dict[str, str], str]] = field(default_factory=list)
    #: planned writes held back for the next page (less than a batch: they fill its first
    #: batch, so paging adds no call); their customers stay dirty until they are written
    held: list[Pending] = field(default_factory=list)


@dataclass
class Pending:
    """One customer's planned write: the changed fields and the hashes they bring."""

    item: WriteItem
    hashes: dict[str, str]
    old: dict[str, str]
    changed: list[str]


def _plan(
    pipe: Pipeline,
    mapping: CompiledMapping,
    hasher: FieldHasher,
    links: dict[str, state.LinkRow],
    scored: Sequence[Scored],
    out: PushOutcome,
) -> list[Pending]:
    todo: list[Pending] = []
    for customer in scored:
        link = links.get(customer.key)
        parked = link is not None and not link.crm_id and PARKED in link.field_hashes
        if link is None or not (link.crm_id or parked):
            out.counts["not_linked"] += 1
            continue
        mapped = mapping.apply({"insights": customer.fields}, direction=Direction.push)
        if mapped.errors:
            out.counts["mapping_errors"] += 1
            out.failed.add(customer.key)
            continue
        hashes = hasher.fields(mapped.payload)
        changed = sorted(n for n, h in hashes.items() if link.field_hashes.get(n) != h)
        if parked:
            # rejected or ambiguous before: keep its hashes current so a rerun of the
            # customers pipeline does not retry it for a change that is not B2Connect's
            if changed:
                merged = {**link.field_hashes, **hashes}
                out.reparked.append((customer.key, None, merged, hasher.record(merged)))
            out.counts["parked"] += 1
            continue
        if not changed:
            out.counts["unchanged"] += 1
            out.current.add(customer.key)
            continue
        send = {n: mapped.payload[n] for n in changed}
        item = WriteItem(customer.key, send, link.crm_id)
        todo.append(Pending(item, hashes, link.field_hashes, changed))
    del pipe
    return todo


def push_insights(
    *,
    pipe: Pipeline,
    target: Connector,
    db: sa.Engine,
    hasher: FieldHasher,
    tenant_id: str,
    scored: Sequence[Scored],
    now: datetime,
    run_id: str,
    target_system: str,
    audit: Any = None,
    retry: RetryPolicy | None = None,
    stop: threading.Event | None = None,
    concurrency: int = 1,
    held: Sequence[Pending] = (),
    final: bool = True,
) -> PushOutcome:
    """Write the changed insight fields of ``scored`` customers to ``pipe``'s CRM.

    The writes go out like the engine's (:class:`sync.fanout.Fanout`): cut into the
    connector's batch size, up to ``concurrency`` batches in flight. Links (merged field
    hashes) and, with ``audit`` (a KeyRing), one ``crm.write`` event per written customer
    commit in one transaction once the CRM acknowledged every batch of a window
    (:data:`WINDOW_BATCHES` rounds of ``concurrency`` batches); a crash before that replays
    the window (every write is an upsert on the CRM id).

    One page of a pass: ``held`` (the previous page's :attr:`PushOutcome.held`) goes first;
    unless ``final``, a last partial batch is held back in the outcome for the next page.
    """
    out = PushOutcome()
    mapping = insight_mapping(pipe)
    if mapping is None or not (scored or held):
        return out
    with db.connect() as conn:
        links = state.load_links(conn, pipe.name, [s.key for s in scored])
        # deleted in the CRM (a user, or the archive rule): an upsert would re-create them
        for key in deleted_links(conn, pipe.name, list(links)):
            links.pop(key, None)
    todo = [*held, *_plan(pipe, mapping, hasher, links, scored, out)]
    del links
    _commit(db, pipe, tenant_id, out.reparked, [], None, now)
    chunk = write_chunk(target) or BATCH
    if not final and len(todo) % chunk:
        todo, out.held = (
            todo[: len(todo) - len(todo) % chunk],
            todo[len(todo) - len(todo) % chunk :],
        )
    policy, halt = retry or RetryPolicy(), stop or threading.Event()
    write: Any = target.write  # the CRM connectors take the id property as a keyword

    def send(items: list[WriteItem]) -> list[WriteResult]:
        results: list[WriteResult] = call(
            partial(write, pipe.crm.object, items, id_property=pipe.crm.id_property),
            what=f"write insights to {pipe.crm.object}",
            stop=halt,
            policy=policy,
        )
        return results

    fanout = Fanout(concurrency, "b2sync-insights")
    rounds = WINDOW_BATCHES if fanout.concurrency > 1 else 1  # serial: a batch at a time
    window = chunk * fanout.concurrency * rounds
    acked = _Acked(pipe, hasher, tenant_id, run_id, target_system)
    try:
        for start in range(0, len(todo), window):
            batch = todo[start : start + window]
            results = fanout.write(target, [p.item for p in batch], send)
            rows, events = acked.collect(batch, results, out)
            _commit(db, pipe, tenant_id, rows, events, audit, now)
    finally:
        fanout.close()
    log.info("insights.pushed", pipeline=pipe.name, **dict(out.counts))
    return out


@dataclass(frozen=True)
class _Acked:
    """Turns a window's write results into link rows and ``crm.write`` events."""

    pipe: Pipeline
    hasher: FieldHasher
    tenant_id: str
    run_id: str
    target_system: str

    def collect(
        self, batch: list[Pending], results: list[WriteResult], out: PushOutcome
    ) -> tuple[list[tuple[str, str | None, dict[str, str], str]], list[AuditEvent]]:
        """The link rows and events of the written customers of ``batch``; the others count
        as failed (they stay dirty: the next pass tries again)."""
        rows: list[tuple[str, str | None, dict[str, str], str]] = []
        events: list[AuditEvent] = []
        for pending, result in zip(batch, results, strict=True):
            key = pending.item.key
            if not result.ok:
                out.failed.add(key)
                out.counts["failed"] += 1
                continue
            merged = {**pending.old, **pending.hashes}
            crm_id = result.crm_id or pending.item.crm_id
            rows.append((key, crm_id, merged, self.hasher.record(merged)))
            out.current.add(key)
            out.counts["written"] += 1
            events.append(self._event(pending))
        return rows, events

    def _event(self, pending: Pending) -> AuditEvent:
        key = pending.item.key
        return AuditEvent(
            actor=f"insights:{self.pipe.name}",
            tenant_id=self.tenant_id,
            action="crm.write",
            outcome="written",
            source_system="b2sync",
            target_system=self.target_system,
            stream=self.pipe.crm.object,
            record_key=key,
            subject=key,  # the B2Connect customer id, as the engine's events
            changed_fields=tuple(pending.changed),
            run_id=self.run_id,
            values={
                n: {"old": None, "new": _plain(pending.item.payload[n])} for n in pending.changed
            },
        )


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _commit(
    db: sa.Engine,
    pipe: Pipeline,
    tenant_id: str,
    rows: list[tuple[str, str | None, dict[str, str], str]],
    events: list[AuditEvent],
    audit: Any,
    now: datetime,
) -> None:
    if not rows:
        return
    from audit import record_events

    with begin_write(db) as conn:
        state.upsert_links(
            conn,
            pipeline=pipe.name,
            tenant_id=tenant_id,
            crm_object=pipe.crm.object,
            rows=rows,
            now=now,
        )
        if audit is not None and events:
            record_events(conn, events, keys=audit, now=now)
