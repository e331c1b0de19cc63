"""Execute a :class:`Plan` against the CRM connector and collect what to commit.

Identity resolution (one lookup per flush), idempotent batched upserts with per-record
outcomes, in-run retries of retriable records, associations, deferred links and order lines.
Nothing is committed here: :class:`Flushed` is applied by the engine in one transaction.

Besides :meth:`Writer.execute`, the steps that write on the writer's behalf (order lines,
deferred links, deletions) use its small public API: :meth:`Writer.write_all` (batched writes
with in-run retries), :meth:`Writer.rejected` (a rejected record's dead letter),
:meth:`Writer.call` and :meth:`Writer.associate`.
"""

from __future__ import annotations

import contextvars
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from audit import AuditEvent
from connectors.base import Connector, SupportsAssociations
from connectors.records import Capability, Record, WriteItem, WriteResult
from mapping.compiler import compile_fields
from mapping.config import Pipeline
from mapping.transforms import get_path, is_blank
from sync import state
from sync.auditing import AuditTrail
from sync.conflicts.store import (
    AMBIGUOUS_MATCH,
    SHOP_DUPLICATE,
    apply_match_decisions,
    shop_duplicates,
)
from sync.deleted_links import clear_deleted, mark_deleted
from sync.fanout import Fanout
from sync.hashing import FieldHasher
from sync.plan import ASSOC_PREFIX, Plan, Planned, dead_letter, parked_hashes
from sync.retry import RetryPolicy, call, retry_failures
from sync.state import DeadLetterRow

__all__ = ["Flushed", "Writer"]

T = TypeVar("T")
LinkTuple = tuple[str, str | None, dict[str, str], str]
PARENT = "@parent"
#: match values per identity lookup call, each retried on its own (HubSpot's batch read size)
LOOKUP_CHUNK = 100
#: a retriable rejection is due at once: the next run replays it (sync.state backs off later)
RETRY_DEAD_LETTER_AFTER = timedelta(0)


@dataclass
class Flushed:
    """Everything one flush commits."""

    pipeline: str
    tenant_id: str
    run_id: str
    crm_object: str
    links: list[LinkTuple] = field(default_factory=list)
    line_links: list[LinkTuple] = field(default_factory=list)
    line_object: str = ""
    dead: list[DeadLetterRow] = field(default_factory=list)
    conflicts: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    pending: list[tuple[str, str, str, str]] = field(default_factory=list)
    pending_done: list[tuple[str, str]] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    #: lines written or found unchanged: their pending dead letters are resolved
    resolved_lines: list[str] = field(default_factory=list)
    #: linked records deleted in B2Connect (links kept, marked deleted: a restore re-links)
    deleted: list[str] = field(default_factory=list)
    #: records restored in B2Connect whose link is live again
    restored: list[str] = field(default_factory=list)
    #: deleted records that never reached the CRM (parked links to drop)
    forgotten: list[str] = field(default_factory=list)
    #: more state changes to make in the commit transaction
    after: list[Callable[[sa.Connection, datetime], None]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    audit: list[AuditEvent] = field(default_factory=list)

    def merge(self, other: Flushed) -> None:
        """Add another flush's results (of the same pipeline and run) to this one."""
        for spec in fields(self):
            mine = getattr(self, spec.name)
            if isinstance(mine, list | Counter):
                mine += getattr(other, spec.name)

    def apply(self, conn: sa.Connection, *, now: datetime) -> None:
        """Write it all inside the caller's transaction."""
        name = self.pipeline
        state.upsert_links(
            conn,
            pipeline=name,
            tenant_id=self.tenant_id,
            crm_object=self.crm_object,
            rows=self.links,
            now=now,
        )
        state.upsert_links(
            conn,
            pipeline=f"{name}#lines",
            tenant_id=self.tenant_id,
            crm_object=self.line_object,
            rows=self.line_links,
            now=now,
        )
        state.resolve_dead_letters(conn, name, self.resolved, now)
        state.resolve_dead_letters(conn, name, self.resolved_lines, now, stream=self.line_object)
        state.add_dead_letters(conn, name, self.run_id, self.dead, now)
        state.add_conflicts(conn, name, self.conflicts, now)
        state.add_pending(conn, name, self.pending, now)
        state.remove_pending(conn, name, self.pending_done)
        state.delete_links(conn, name, self.forgotten)
        mark_deleted(conn, name, self.deleted, "b2connect", now)
        clear_deleted(conn, name, self.restored)
        for step in self.after:
            step(conn, now)


def needs_lengths(pipeline: Pipeline) -> bool:
    """Whether a push of ``pipeline`` truncates to the CRM's field lengths (a bare
    ``truncate``, on its fields or its lines'), so its writer describes its objects."""
    specs = list(pipeline.fields) + (list(pipeline.lines.fields) if pipeline.lines else [])
    return any("truncate" in spec.transform for spec in specs)


@dataclass(frozen=True)
class WriterSteps:
    """The stages a flush runs around the writer's own upserts, handed in by the engine (they
    use the writer's public API, so the writer does not import them)."""

    #: B2Connect deletions of linked records (before the upserts)
    deletions: Callable[[Writer, Plan, Flushed], None]
    #: order lines after their orders were written
    lines: Callable[[Writer, list[tuple[Planned, str]], Flushed], None]


@dataclass
class Writer:
    """Writes plans of one pipeline to its CRM."""

    pipeline: Pipeline
    target: Connector
    hasher: FieldHasher
    tenant_id: str
    run_id: str
    stop: threading.Event
    retry: RetryPolicy
    clock: Callable[[], datetime]
    db: sa.Engine
    steps: WriterSteps
    trail: AuditTrail | None = None
    #: write batches in flight at once (1: one call per write, as the connector batches it)
    concurrency: int = 1
    #: deletions this run made so far, and its linked population (the delete breaker's)
    deletions_done: int = 0
    population: int | None = None
    _lengths: dict[str, dict[str, int | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lines = self.pipeline.lines
        self.lines_mapping = compile_fields(lines.fields) if lines else None
        self.fanout = Fanout(self.concurrency)
        self._stages: ThreadPoolExecutor | None = None
        #: one describe per object, also with two flushes in flight (sync.push.engine)
        self._describing = threading.Lock()

    def close(self) -> None:
        """Stop the write pool (and the stage thread)."""
        self.fanout.close()
        if self._stages is not None:
            self._stages.shutdown(wait=True)
            self._stages = None

    # ------------------------------------------------------------------ lookups

    def lengths(self, crm_object: str) -> dict[str, int | None]:
        """Field lengths of ``crm_object`` (one describe per object and run, when needed)."""
        with self._describing:
            return self._lengths_of(crm_object)

    def _lengths_of(self, crm_object: str) -> dict[str, int | None]:
        if crm_object not in self._lengths:
            found: dict[str, int | None] = {}
            if needs_lengths(self.pipeline):
                schema = self._call(
                    lambda: self.target.describe(crm_object), f"describe {crm_object}"
                )
                found = {name: info.length for name, info in schema.fields.items()}
            self._lengths[crm_object] = found
        return self._lengths[crm_object]

    def prefetch_targets(
        self, conn: sa.Connection, records: Sequence[Record]
    ) -> Callable[[str, str], str | None]:
        """Load the CRM ids of records other pipelines synced (``link`` fields, associations)
        that these records point to: a lookup for their flush only. Nothing is kept across
        flushes (an orders run would otherwise end up holding the CRM id of every customer
        its orders name, a shop's worth)."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for spec in self.pipeline.fields:
            for step in spec.transform:
                if isinstance(step, dict) and "link" in step and spec.b2connect:
                    for record in records:
                        value = get_path(record.fields, spec.b2connect)
                        if not is_blank(value):
                            wanted[str(step["link"])].add(str(value))
        for assoc in self.pipeline.associations:
            for record in records:
                value = get_path(record.fields, assoc.field)
                if not is_blank(value):
                    wanted[assoc.pipeline].add(str(value))
        found = {
            pipeline: state.link_ids(conn, pipeline, sorted(keys))
            for pipeline, keys in wanted.items()
        }

        def target(pipeline: str, key: str) -> str | None:
            return found.get(pipeline, {}).get(key)

        return target

    # ------------------------------------------------------------------ execute

    def execute(self, plan: Plan) -> Flushed:
        """Write the plan; return what to commit."""
        out = self.flushed()
        out.dead.extend(plan.dead)
        out.counts["dead_lettered"] += len(plan.dead)
        self.steps.deletions(self, plan, out)
        writes = self._resolve_identities(plan.writes, out)
        items = [p for p in writes if p.is_new or any(not c.startswith("@") for c in p.changed)]
        results = self.write_all(self.pipeline.crm.object, [self._item(p) for p in items])
        written: list[tuple[Planned, str]] = []
        for planned in writes:
            result = results.get(planned.key)
            if result is None:  # nothing to send (only an association changed)
                if planned.crm_id:
                    written.append((planned, planned.crm_id))
                continue
            if result.ok and result.crm_id:
                written.append((planned, result.crm_id))
                out.counts["created" if result.created else "updated"] += 1
                out.counts["written"] += 1
                self._audit(out, planned, "created" if result.created else "updated")
            else:
                error = result.error
                self._audit(out, planned, f"rejected:{error.code if error else 'UNKNOWN'}")
                out.dead.append(self.rejected(planned.record, result))
                out.counts["dead_lettered"] += 1
                out.counts["rejected"] += 1  # by the CRM (a dry run cannot know it)
                if planned.is_new and not (result.error and result.error.retriable):
                    self._park(planned, "rejected", out)
        lines = self.pipeline.lines is not None
        if lines and self.concurrency > 1 and self.pipeline.associations:
            # the records' associations and their lines depend on the written records only,
            # not on each other: both stages in flight at once (associations on a thread of
            # their own, into a Flushed of their own, merged once both are done)
            associated = self.flushed()
            stage = self._stage_pool().submit(
                contextvars.copy_context().run, self._associate, written, associated
            )
            try:
                self.steps.lines(self, written, out)
            finally:
                failed = stage.exception()  # waits: the associations finish either way
            if failed is not None:
                raise failed
            out.merge(associated)
        else:
            self._associate(written, out)
            if lines:
                self.steps.lines(self, written, out)
        for planned, crm_id in written:
            out.links.append(
                (planned.key, crm_id, planned.hashes, self.hasher.record(planned.hashes))
            )
            out.resolved.append(planned.key)
            out.pending.extend((planned.key, p, k, what) for p, k, what in planned.deferred)
            out.counts["deferred"] += len(planned.deferred)
        return out

    def _stage_pool(self) -> ThreadPoolExecutor:
        """A thread per flush in flight for a write stage that runs beside another (its calls
        go through the write pool, so it never takes one of the pool's threads while it
        waits)."""
        with self._describing:  # two flushes in flight may ask at once
            if self._stages is None:
                self._stages = ThreadPoolExecutor(2, thread_name_prefix="b2sync-stage")
            return self._stages

    def flushed(self) -> Flushed:
        """An empty :class:`Flushed` of this pipeline and run."""
        return Flushed(
            pipeline=self.pipeline.name,
            tenant_id=self.tenant_id,
            run_id=self.run_id,
            crm_object=self.pipeline.crm.object,
            line_object=self.pipeline.lines.object if self.pipeline.lines else "",
        )

    def _audit(
        self,
        out: Flushed,
        planned: Planned,
        outcome: str,
        crm_object: str | None = None,
        subject: str | None = None,
    ) -> None:
        if self.trail is not None:
            crm_object = crm_object or self.pipeline.crm.object
            out.audit.append(self.trail.write(self.pipeline, planned, outcome, crm_object, subject))

    def _park(self, planned: Planned, why: str, out: Flushed) -> None:
        """Remember a new record's hashes without a CRM id: skipped until it changes."""
        if planned.crm_id and not planned.is_new:
            return
        hashes = parked_hashes(planned.hashes, why)
        out.links.append((planned.key, None, hashes, self.hasher.record(hashes)))

    def _item(self, planned: Planned) -> WriteItem:
        # a CRM id only for a first-time match: linked records upsert on the B2Connect key
        crm_id = planned.crm_id if planned.is_new else None
        return WriteItem(key=planned.key, payload=planned.send, crm_id=crm_id)

    def rejected(self, record: Record, result: WriteResult) -> DeadLetterRow:
        """The dead letter of a record the CRM rejected (due for a retry if it was transient)."""
        error = result.error
        retry_at = self.clock() + RETRY_DEAD_LETTER_AFTER if error and error.retriable else None
        return dead_letter(
            record,
            error.code if error else "UNKNOWN",
            error.message if error else "rejected without a reason",
            error.field if error else None,
            retry_at,
        )

    # ------------------------------------------------------------------ steps

    def load_link_ids(self, conn: sa.Connection, keys: Sequence[str]) -> dict[str, str | None]:
        """CRM ids (None for parked links) of the linked ``keys``."""
        return {
            k: row.crm_id for k, row in state.load_links(conn, self.pipeline.name, keys).items()
        }

    def _resolve_identities(self, writes: list[Planned], out: Flushed) -> list[Planned]:
        """Attach new records to existing CRM records by the match key; park ambiguity."""
        match = self.pipeline.match_key
        candidates = [p for p in writes if p.is_new and p.match_value]
        candidates = apply_match_decisions(self, candidates, out)
        duplicates = shop_duplicates(candidates) if match is not None else {}
        if duplicates:
            writes = self._park_duplicates(writes, duplicates, out)
            candidates = [p for p in candidates if p.key not in duplicates]
        if match is None or not candidates or Capability.LOOKUP not in self.target.capabilities:
            return writes
        values = sorted({str(p.match_value) for p in candidates})
        crm_object, field_name = self.pipeline.crm.object, match.crm

        def look(chunk: list[str]) -> dict[str, list[str]]:
            return self._call(lambda: self.target.lookup(crm_object, field_name, chunk), "lookup")

        # each chunk its own call, retried on its own (a fault costs one chunk, not all), and
        # all of them in flight together through the write pool
        chunks = [
            values[start : start + LOOKUP_CHUNK] for start in range(0, len(values), LOOKUP_CHUNK)
        ]
        found: dict[str, list[str]] = {}
        for part in self.fanout.map(look, chunks):
            found.update(part)
        normalised = {k.strip().lower(): v for k, v in found.items()}
        all_ids = sorted({i for ids in normalised.values() for i in ids})
        with self.db.connect() as conn:
            taken = state.crm_ids_taken(conn, self.pipeline.name, all_ids)
        keep: list[Planned] = []
        claimed: dict[str, str] = {}
        candidate_keys = {p.key for p in candidates}  # a set: the flush is thousands long
        for planned in writes:
            if planned.key not in candidate_keys:
                keep.append(planned)
                continue
            ids = normalised.get(str(planned.match_value).strip().lower(), [])
            free = [
                i
                for i in ids
                if taken.get(i) in (None, planned.key) and claimed.get(i) in (None, planned.key)
            ]
            if len(ids) > 1 or (ids and not free):
                reason = (
                    "several CRM records match"
                    if len(ids) > 1
                    else "the matching CRM record is linked already"
                )
                out.conflicts.append(
                    (
                        planned.key,
                        "ambiguous_match",
                        {"field": match.crm, "candidates": ids, "reason": reason},
                    )
                )
                self._park(planned, "conflict", out)
                out.counts["conflicts"] += 1
                continue
            if free:
                planned.crm_id = free[0]
                planned.send = dict(planned.payload)
                claimed[free[0]] = planned.key
                out.counts["matched"] += 1
            keep.append(planned)
        return keep

    def _park_duplicates(
        self, writes: list[Planned], duplicates: dict[str, list[str]], out: Flushed
    ) -> list[Planned]:
        """Park new records whose match value an earlier new record of the flush has."""
        field_name = self.pipeline.match_key.crm if self.pipeline.match_key else None
        for planned in writes:
            if planned.key in duplicates:
                details = {"field": field_name, "candidates": [], "reason": SHOP_DUPLICATE,
                           "b2connect_keys": duplicates[planned.key]}  # fmt: skip
                out.conflicts.append((planned.key, AMBIGUOUS_MATCH, details))
                self._park(planned, "conflict", out)
                out.counts["conflicts"] += 1
        return [p for p in writes if p.key not in duplicates]

    def write_all(self, crm_object: str, items: list[WriteItem]) -> dict[str, WriteResult]:
        """Write with in-run retries of records the CRM called transient (row locks, ...)."""
        results: dict[str, WriteResult] = {}
        todo = items
        kwargs: dict[str, Any] = {}
        id_property = (
            self.pipeline.crm.id_property
            if crm_object == self.pipeline.crm.object
            else (self.pipeline.lines.id_property if self.pipeline.lines else None)
        )
        if id_property:
            kwargs["id_property"] = id_property
        for attempt in range(self.retry.attempts):
            if not todo:
                break
            batch = todo
            out = self._send(crm_object, batch, kwargs)
            todo = []
            for item, result in zip(batch, out, strict=True):
                retry = not result.ok and result.error is not None and result.error.retriable
                if retry and attempt + 1 < self.retry.attempts:
                    todo.append(item)
                else:
                    results[item.key] = result
            if todo and self.stop.wait(min(self.retry.initial * 2**attempt, self.retry.maximum)):
                break
        for item in todo:
            results.setdefault(
                item.key,
                WriteResult.failure(
                    item.key, "INTERRUPTED", "shutdown before retry", retriable=True
                ),
            )
        return results

    def _send(
        self, crm_object: str, batch: list[WriteItem], kwargs: dict[str, Any]
    ) -> list[WriteResult]:
        """One write of ``batch``: a single call, or its batches in flight at once
        (:mod:`sync.fanout`); results in ``batch``'s order."""

        def send(part: list[WriteItem]) -> list[WriteResult]:
            return self._call(
                lambda: self.target.write(crm_object, part, **kwargs), f"write {crm_object}"
            )

        return self.fanout.write(self.target, batch, send)

    def _associate(self, written: list[tuple[Planned, str]], out: Flushed) -> None:
        if (
            not self.pipeline.associations
            or Capability.ASSOCIATIONS not in self.target.capabilities
        ):
            return
        for assoc in self.pipeline.associations:
            name = f"{ASSOC_PREFIX}{assoc.pipeline}"
            pairs: list[tuple[str, str]] = []
            owners: dict[str, Planned] = {}
            for planned, crm_id in written:
                if name in planned.changed and name in planned.hashes:
                    target_id = planned.targets.get(assoc.pipeline)
                    if target_id:
                        pairs.append((crm_id, target_id))
                        owners[crm_id] = planned
            if not pairs:
                continue
            results = self.associate(
                self.pipeline.crm.object, assoc.to_object, pairs, assoc.type_id
            )
            for result in results:
                planned = owners[result.key]
                if result.ok:
                    out.counts["associated"] += 1
                else:  # try again on a later run
                    planned.hashes.pop(name, None)
                    target_key = str(get_path(planned.record.fields, assoc.field))
                    planned.deferred.append((assoc.pipeline, target_key, f"assoc:{assoc.pipeline}"))

    def associate(
        self, from_object: str, to_object: str, pairs: list[tuple[str, str]], type_id: int
    ) -> list[WriteResult]:
        """Associate pairs through the target: a call is retried, and so are the pairs that
        came back as transient failures, alone (what succeeded is not sent again)."""
        target = self.target
        assert isinstance(target, SupportsAssociations)

        def send(part: list[tuple[str, str]]) -> list[WriteResult]:
            return self._call(
                lambda: target.associate(from_object, to_object, part, type_id),
                f"associate {from_object}",
            )

        def spread(part: list[tuple[str, str]]) -> list[WriteResult]:
            return self.fanout.pairs(target, part, send)  # batches in flight at once

        return retry_failures(spread, pairs, stop=self.stop, policy=self.retry)

    def _call(self, fn: Callable[[], T], what: str) -> T:
        return call(fn, what=what, stop=self.stop, policy=self.retry)

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Call the target with the run's retry policy."""
        return self._call(fn, what)

    # ------------------------------------------------------------------ dry run

    def preview(self, plan: Plan) -> tuple[list[dict[str, Any]], Counter[str]]:
        """What a flush would write, for ``--dry-run``, counted as :meth:`execute` counts it.

        New records are matched by the match key as the real run matches them (a read-only
        lookup), so a record that will update an existing CRM record is an update here too,
        and an ambiguous match is a conflict, not a create. Returns the plan rows and the
        ``would_*`` counts (``would_create``, ``would_update``, ``would_conflict``,
        ``would_dead_letter``).
        """
        out = self.flushed()
        writes = self._resolve_identities(list(plan.writes), out)
        sent = [p for p in writes if p.is_new or any(not c.startswith("@") for c in p.changed)]
        creates = sum(1 for p in sent if p.is_new and not p.crm_id)
        counts: Counter[str] = Counter(
            would_create=creates,
            would_update=len(sent) - creates,
            would_conflict=out.counts["conflicts"],
            would_dead_letter=len(plan.dead),
        )
        rows = self.describe(Plan(writes=sent, dead=plan.dead))
        rows.extend(
            {"key": key, "action": "conflict", "object": self.pipeline.crm.object,
             "error": f"{kind}: {details.get('reason', '')}"}
            for key, kind, details in out.conflicts
        )  # fmt: skip
        return rows, counts

    def describe(self, plan: Plan) -> list[dict[str, Any]]:
        """What a flush would write, for ``--dry-run`` (a matched new record is an update)."""
        rows: list[dict[str, Any]] = []
        for planned in plan.writes:
            create = planned.is_new and not planned.crm_id
            fields = {k: planned.send.get(k) for k in planned.changed if not k.startswith("@")}
            rows.append(
                {
                    "key": planned.key,
                    "action": "create" if create else "update",
                    "object": self.pipeline.crm.object,
                    "fields": dict(planned.send) if planned.is_new else fields,
                    "match": planned.match_value,
                }
            )
        rows.extend(
            {
                "key": d.key,
                "action": "dead_letter",
                "object": self.pipeline.crm.object,
                "error": f"{d.code}: {d.message}",
            }
            for d in plan.dead
        )
        return rows
