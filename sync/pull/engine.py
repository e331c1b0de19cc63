"""The pull engine: CRM edits flow back to B2Connect.

One :class:`PullRun` reads a pipeline's CRM object from its own cursor (``cursors`` row with
side ``crm``, stream = the CRM object), page by page, and per flush:

1. finds each record's link and drops echoes (:func:`sync.pull.plan.triage`): a record whose
   pulled fields all hash to the last-synced hashes costs nothing, whoever touched it last;
   Salesforce records stamped by the integration user (``LastModifiedById``) are counted as
   ``echo_ours``. A record b2sync touched *and* a user edited since still hashes differently,
   so a genuine edit that lands between our write and our next read is merged, never lost;
2. runs the record hooks (``origin="crm"``) on the changes left, as B2Connect-shaped records
   (``{"id": key, ...pulled fields at their B2Connect paths}``);
3. reads those records' current B2Connect state (one ``GET`` each) and merges field by field
   (:func:`sync.merge.merge_record`, the pipeline's field rules), in CRM form
   (:mod:`sync.pull.fields`);
4. writes B2Connect's patch (write-back routes) and, for ``direction: both``, the fields
   B2Connect won to the CRM (upsert on the B2Connect key), parks ``manual`` clashes in
   ``conflicts`` (format: :mod:`sync.pull.store`), applies CRM deletions per
   ``on_delete.to_b2connect`` through the delete breaker (``archive``/``delete``: the
   B2Connect record is deactivated, ``isActive: false``, since the contract has no delete;
   ``ignore``: nothing is written) and re-activates a record whose CRM record came back;
5. commits links (per-field hashes), deletion marks, dead letters, conflicts, audit events,
   the CRM cursor and the run counters in one transaction, after the writes. A crash before
   the commit replays the flush: the writes are idempotent patches and upserts.

CRM records without a link are not created in B2Connect (the contract has no create route);
push creates the links. Dead letters of a pull keep the CRM record as read (marked as the
pull's, :func:`sync.replay.crm_dead_letter`); a replay runs them through this merge again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

import structlog

from audit import AuditEvent, record_events
from audit.events import B2CONNECT_WRITE, CRM_WRITE
from connectors.base import Connector, SupportsChangeSources, SupportsFetch, SupportsIdentity
from connectors.errors import ConnectorError, Fatal
from connectors.records import Page, Record, WriteItem, WriteResult
from mapping.config import DeletePolicy
from store import begin_write
from store.models import Side
from sync import state
from sync.blanks import merge_blanks
from sync.breaker import check_deletes, linked_population, on_delete_policy
from sync.deleted_links import clear_deleted, deleted_links, mark_deleted
from sync.fanout import Fanout
from sync.hooks import run_hooks
from sync.isolation import hooks_isolated, screened
from sync.pull.audit import PullFacts, pull_event
from sync.pull.fields import PullField, nest, pull_fields
from sync.pull.plan import Merged, Pending, Triage, merge, triage, unlinked_view
from sync.pull.store import add_manual_conflicts, links_by_crm_id, open_manual_fields
from sync.replay import crm_dead_letter
from sync.retry import call, pages
from sync.run import Run, latest_per_key
from sync.state import DeadLetterRow, LinkRow

__all__ = ["DEFAULT_ID_PROPERTY", "PullRun", "read_crm"]

log = structlog.get_logger(__name__)

#: the CRM field holding the B2Connect key when the pipeline does not name one
DEFAULT_ID_PROPERTY = {"hubspot": "b2connect_id", "salesforce": "B2Connect_Id__c"}
DEFAULT_PULL_FLUSH = 2000


def read_crm(
    crm: Connector, crm_object: str, cursor: Mapping[str, Any] | None, fields: Sequence[str]
) -> Iterator[Page]:
    """The CRM's change pages with the fields the pull needs."""
    reader = cast(Any, crm)
    if crm.name == "hubspot":
        return cast(Iterator[Page], reader.read_changes(crm_object, cursor, properties=fields))
    if crm.name == "salesforce":
        return cast(Iterator[Page], reader.read_changes(crm_object, cursor, read_fields=fields))
    return crm.read_changes(crm_object, cursor)


@dataclass
class _Outcome:
    """What one flush commits."""

    links: list[tuple[str, str | None, dict[str, str], str]]
    deleted: list[str]
    restored: list[str]
    dead: list[DeadLetterRow]
    conflicts: list[tuple[str, str, dict[str, Any]]]
    audit: list[AuditEvent]
    counts: Counter[str]
    #: CRM ids read in this flush and not parked again: their pending dead letters resolve
    resolved: list[str] = field(default_factory=list)


@dataclass
class PullRun(Run):
    """Runs the CRM→B2Connect half of one pipeline once.

    ``shop`` is the pipeline's B2Connect connector and ``crm`` its CRM connector; locks, run
    rows, pauses and errors are :class:`~sync.run.Run`'s, as for the push.
    ``parked``: replay these CRM records (the pull's dead letters) instead of reading changes.
    """

    parked: Sequence[Record] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        schema = self.shop.describe(self.pipeline.b2connect.stream)
        writable = {name for name, info in schema.fields.items() if info.updateable}
        self.fields: list[PullField] = pull_fields(self.pipeline, self.mapping, writable)
        self.id_property = self.pipeline.crm.id_property or DEFAULT_ID_PROPERTY.get(
            self.crm.name, "b2connect_id"
        )
        self.ours: str | None = None
        self._deletes_done = 0  # the breaker counts a run's deletions, not a flush's
        self._field_lengths: dict[str, int | None] | None = None
        self.fanout = Fanout(self.concurrency, "b2sync-pull")

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        try:
            self._pull_all()
        finally:
            self.fanout.close()

    def _pull_all(self) -> None:
        if not self.fields:
            return
        if isinstance(self.crm, SupportsIdentity):
            crm = self.crm
            self.ours = self._retry(crm.integration_user, "integration user")
        cursor = None if (self.full or self.parked is not None) else self.crm_cursor()
        match = self.pipeline.match_key  # read too: screens unlinked records (tombstones)
        screen = {match.crm} if match is not None and self.hooks else set()
        wanted = sorted({*(f.crm for f in self.fields), self.id_property, *screen})
        buffer: list[Record] = []
        flush_size = self.pipeline.batch_size or DEFAULT_PULL_FLUSH
        last: Mapping[str, Any] | None = cursor
        for page in self._pages(cursor, wanted):
            buffer.extend(page.records)
            last = page.cursor if page.cursor is not None else last
            self._page_read(page)
            if len(buffer) >= flush_size or not page.has_more:
                self._pull_flush(buffer, last)
                buffer = []
            if self.stop.is_set():
                return
        if buffer:
            self._pull_flush(buffer, last)

    def _pages(self, cursor: Mapping[str, Any] | None, wanted: list[str]) -> Iterator[Page]:
        """The CRM's change pages; for a replay, the parked records."""
        if self.parked is not None:
            return iter([Page(list(self.parked), None, has_more=False)])
        return self.crm_pages(cursor, wanted)

    def crm_pages(self, cursor: Mapping[str, Any] | None, wanted: list[str]) -> Iterator[Page]:
        """The CRM's change pages after ``cursor``, each fetch retried (sync.retry.pages)."""
        crm, crm_object = self.crm, self.pipeline.crm.object
        return pages(
            lambda at: read_crm(crm, crm_object, at, wanted),
            cursor,
            what=f"read {crm_object}",
            stop=self.stop,
            policy=self.retry,
        )

    def crm_cursor(self) -> dict[str, Any] | None:
        """The pull's committed CRM cursor (``None`` before the first pull)."""
        with self.db.connect() as conn:
            return state.get_cursor(conn, self.pipeline.name, self.pipeline.crm.object, Side.CRM)

    def _pull_flush(self, records: Sequence[Record], cursor: Mapping[str, Any] | None) -> None:
        records = latest_per_key(records)
        name = self.pipeline.name
        lengths = self._lengths()
        found, unreadable = screened(
            lambda some: self._triage(some, lengths), records, "reading the CRM change"
        )
        found.dead.extend(unreadable)
        self._bump(found.counts)
        pending, hook_dead = self._hooked(found.pending)
        self._screen(found.unlinked, lengths)
        current = self._fetch([p.key for p in pending])
        with self.db.connect() as conn:
            blocked = open_manual_fields(conn, name, [p.key for p in pending])
        policy = on_delete_policy(self.pipeline, "to_b2connect")
        merged, counts = merge(
            pending,
            current,
            fields=self.fields,
            hasher=self.hasher,
            lengths=lengths,
            blocked=blocked,
            reactivate=policy != "ignore",
        )
        self._bump(counts)
        if self.dry_run:
            self._describe(merged, found.deletes, policy)
            return
        self.blanks.admit(merge_blanks(d for m in merged for d in m.decisions))
        if found.deletes and policy != "ignore":
            with begin_write(self.db) as conn:
                check_deletes(
                    conn,
                    self.pipeline,
                    direction="to_b2connect",
                    deletes=self._deletes_done + len(found.deletes),
                    population=linked_population(conn, name) + self._deletes_done,
                    now=self.clock(),
                )
            self._deletes_done += len(found.deletes)
        outcome = self._write(merged, found.deletes, policy)
        outcome.dead.extend([*found.dead, *hook_dead])
        parked = {row.key for row in outcome.dead}
        outcome.resolved = [r.key for r in records if r.key not in parked]
        self._commit_pull(outcome, cursor)

    def _triage(self, records: list[Record], lengths: dict[str, int | None]) -> Triage:
        """Load the links of a flush of CRM records and sort them (see :func:`triage`)."""
        name = self.pipeline.name
        with self.db.connect() as conn:
            by_crm = links_by_crm_id(conn, name, [r.key for r in records])
            linked = {link.key for link in by_crm.values()}
            carried = {
                str(r.fields[self.id_property]) for r in records if r.fields.get(self.id_property)
            }
            by_key = state.load_links(conn, name, sorted(carried - linked))
            deleted = deleted_links(conn, name, sorted(linked | set(by_key)))
        return triage(
            records,
            fields=self.fields,
            by_crm=by_crm,
            by_key=by_key,
            deleted=deleted,
            id_property=self.id_property,
            hasher=self.hasher,
            lengths=lengths,
            ours=self.ours,
        )

    # ------------------------------------------------------------------ steps

    def _describe(
        self, merged: list[Merged], deletes: list[tuple[Record, LinkRow]], policy: DeletePolicy
    ) -> None:
        """What the flush would do, for ``--dry-run`` (rows like the push's)."""
        stream, crm_object = self.pipeline.b2connect.stream, self.pipeline.crm.object
        plan = self.summary.dry_run_plan
        for m in merged:
            if m.to_b2connect:
                plan.append({"key": m.pending.key, "action": "pull", "object": stream,
                             "fields": m.to_b2connect})  # fmt: skip
            if m.to_crm:
                plan.append({"key": m.pending.key, "action": "update", "object": crm_object,
                             "fields": m.to_crm})  # fmt: skip
        if policy != "ignore":
            plan.extend({"key": link.key, "action": "deactivate", "object": stream}
                        for _record, link in deletes)  # fmt: skip
        writes = sum(1 for m in merged if m.to_b2connect or m.to_crm)
        self._bump({
            "would_write": writes, "would_delete": len(deletes),
            "would_to_b2connect": sum(1 for m in merged if m.to_b2connect),
            "would_to_crm": sum(1 for m in merged if m.to_crm),
        })  # fmt: skip

    def _retry(self, fn: Any, what: str) -> Any:
        return call(fn, what=what, stop=self.stop, policy=self.retry)

    def _lengths(self) -> dict[str, int | None]:
        """CRM field lengths, when a pulled field truncates to them (one describe per run)."""
        if self._field_lengths is None:
            found: dict[str, int | None] = {}
            if any(name == "truncate" for f in self.fields for name, _, _ in f.compiled.steps):
                crm_object = self.pipeline.crm.object
                schema = self._retry(lambda: self.crm.describe(crm_object), "describe")
                found = {n: info.length for n, info in schema.fields.items()}
            self._field_lengths = found
        return self._field_lengths

    def _hooked(self, pending: list[Pending]) -> tuple[list[Pending], list[DeadLetterRow]]:
        """Run the record hooks (tombstones, consent, ...) on the changes about to be merged;
        a record a hook fails on is dead-lettered alone (:func:`sync.isolation.hooks_isolated`)."""
        if not self.hooks or not pending:
            return pending, []
        context = replace(self._hook_context(), origin="crm")
        views = [self._view(p) for p in pending]
        passed, dead = hooks_isolated(self.hooks, context, views)
        kept = {r.key for r in passed}
        self._bump({"blocked": len(pending) - len(kept) - len(dead)})
        return [p for p in pending if p.key in kept], dead

    def _screen(self, records: list[Record], lengths: dict[str, int | None]) -> None:
        """Run the hooks on unlinked records, which the pull never writes anywhere: an erased
        person's stale record is blocked there and the blocked attempt recorded."""
        if not self.hooks or not records:
            return
        views = [
            unlinked_view(r, stream=self.pipeline.b2connect.stream, fields=self.fields,
                          id_property=self.id_property, match_key=self.pipeline.match_key,
                          hasher=self.hasher, lengths=lengths)
            for r in records
        ]  # fmt: skip
        found = [v for v in views if v is not None]
        context = replace(self._hook_context(), origin="crm")
        self._bump({"blocked": len(found) - len(run_hooks(self.hooks, context, found))})

    def _view(self, item: Pending) -> Record:
        """A CRM change as a B2Connect-shaped record (what the hooks see)."""
        fields: dict[str, Any] = {"id": item.key}
        for spec in self.fields:
            if spec.invertible and spec.crm in item.values:
                nest(spec.path, spec.back(item.values[spec.crm]), fields)
        return Record(
            stream=self.pipeline.b2connect.stream,
            key=item.key,
            fields=fields,
            updated_at=item.record.updated_at,
            tenant_id=self.tenant_id,
            modified_by=item.record.modified_by,
        )

    def _fetch(self, keys: list[str]) -> dict[str, Record]:
        if not keys:
            return {}
        shop = self.shop
        if not isinstance(shop, SupportsFetch):
            raise Fatal(
                f"connector '{shop.name}' cannot read records by id; a pull needs it",
                code="NO_FETCH",
            )
        stream = self.pipeline.b2connect.stream
        # one GET per record on B2Connect: up to ``concurrency`` groups read at once
        size = -(-len(keys) // self.fanout.concurrency)
        groups = [keys[start : start + size] for start in range(0, len(keys), size)]
        found: dict[str, Record] = {}
        for part in self.fanout.map(
            lambda group: self._retry(lambda: shop.fetch(stream, group), "fetch"), groups
        ):
            found.update(part)
        return found

    def _write(
        self, merged: list[Merged], deletes: list[tuple[Record, LinkRow]], policy: DeletePolicy
    ) -> _Outcome:
        """Write both patches and the deactivations; collect what to commit."""
        stream, crm_object = self.pipeline.b2connect.stream, self.pipeline.crm.object
        b2c_items = [WriteItem(m.pending.key, m.to_b2connect) for m in merged if m.to_b2connect]
        if policy != "ignore":
            b2c_items += [WriteItem(link.key, {"isActive": False}) for _, link in deletes]
        crm_items = [WriteItem(m.pending.key, m.to_crm) for m in merged if m.to_crm]
        b2c = self._send(self.shop, stream, b2c_items, {})
        crm = self._send(self.crm, crm_object, crm_items, {"id_property": self.id_property})
        pulled = [m for m in merged if m.to_b2connect and _ok(b2c.get(m.pending.key))]
        sources = self._change_sources(pulled)
        out = _Outcome([], [], [], [], [], [], Counter())
        for item in merged:
            b2c_result, crm_result = b2c.get(item.pending.key), crm.get(item.pending.key)
            self._settle(item, b2c_result, crm_result, out, sources.get(item.pending.key))
        for record, link in deletes:
            result = b2c.get(link.key) if policy != "ignore" else None
            if result is not None and not result.ok:
                out.dead.append(_rejected(record, result, self.clock()))
                continue
            out.deleted.append(link.key)
            out.counts["deleted"] += 1
            if result is not None:
                out.audit.append(
                    self._event(B2CONNECT_WRITE, link.key, ["isActive"], "deactivated")
                )
        return out

    def _send(
        self, connector: Connector, stream: str, items: list[WriteItem], kwargs: dict[str, Any]
    ) -> dict[str, WriteResult]:
        if not items:
            return {}
        writer = cast(Any, connector)

        def send(part: list[WriteItem]) -> list[WriteResult]:
            out: list[WriteResult] = self._retry(
                lambda: writer.write(stream, part, **kwargs), f"write {stream}"
            )
            return out

        # B2Connect write-back is one PATCH per record: sent ``concurrency`` at a time
        results = self.fanout.write(connector, items, send)
        return {result.key: result for result in results}

    def _change_sources(self, pulled: list[Merged]) -> dict[str, dict[str, Any]]:
        """Who made the CRM-side changes written back, per B2Connect key: HubSpot's property
        history (one read per 50 records, only for records whose edit was applied) or
        Salesforce's ``LastModifiedById`` (already on the record). Unknown stays out; a
        failed history read costs the names, never the pull."""
        system = self.target_system
        if not pulled:
            return {}
        crm = self.crm
        if not isinstance(crm, SupportsChangeSources):
            return {
                m.pending.key: {"system": system, "user_id": m.pending.record.modified_by}
                for m in pulled
                if m.pending.record.modified_by
            }
        names = sorted({d.field for m in pulled for d in m.decisions if d.action == "to_b2connect"})
        by_crm_id = {m.pending.record.key: m.pending.key for m in pulled}
        try:
            found: dict[str, dict[str, Any]] = self._retry(
                lambda: crm.change_sources(self.pipeline.crm.object, list(by_crm_id), names),
                "read property history",
            )
        except ConnectorError as exc:
            log.warning("pull.change_sources_unread", code=exc.code, error=exc.message)
            return {}
        return {
            by_crm_id[crm_id]: {"system": system, **source}
            for crm_id, source in found.items()
            if crm_id in by_crm_id
        }

    def _settle(
        self,
        item: Merged,
        b2c: WriteResult | None,
        crm: WriteResult | None,
        out: _Outcome,
        source: Mapping[str, Any] | None = None,
    ) -> None:
        """One merged record's link row, dead letters, conflicts and audit events."""
        key, record = item.pending.key, item.pending.record
        for result in (b2c, crm):
            if result is not None and not result.ok:
                out.dead.append(_rejected(record, result, self.clock()))
        b2c_ok, crm_ok = b2c is None or b2c.ok, crm is None or crm.ok
        hashes = item.hashes(b2connect_ok=b2c_ok, crm_ok=crm_ok)
        out.links.append((key, record.key, hashes, self.hasher.record(hashes)))
        if item.pending.restored or item.pending.relinked:
            out.restored.append(key)
            out.counts["relinked"] += 1
        out.conflicts.extend((key, name, details) for name, details in item.conflicts)
        if b2c is not None and b2c.ok:
            out.counts["to_b2connect"] += 1
            changed = [d.field for d in item.decisions if d.action == "to_b2connect"]
            by = {"changed_by": dict(source)} if source else None
            out.audit.append(
                self._event(B2CONNECT_WRITE, key, changed, "updated", item.to_b2connect, by)
            )
        if crm is not None and crm.ok:
            out.counts["to_crm"] += 1
            out.audit.append(
                self._event(CRM_WRITE, key, sorted(item.to_crm), "updated", item.to_crm)
            )
        if (b2c is not None and b2c.ok) or (crm is not None and crm.ok):
            out.counts["written"] += 1
        elif not item.conflicts:
            out.counts["unchanged"] += 1

    def _event(
        self,
        action: str,
        key: str,
        fields: Sequence[str],
        outcome: str,
        values: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        return pull_event(
            self.pipeline,
            PullFacts(self.tenant_id, self.run_id, self.target_system),
            action,
            key,
            fields,
            outcome,
            values,
            details,
        )

    # ------------------------------------------------------------------ commit

    def _commit_pull(self, out: _Outcome, cursor: Mapping[str, Any] | None) -> None:
        now = self.clock()
        name = self.pipeline.name
        audited = self.audit_keys is not None and bool(out.audit)
        with begin_write(self.db) as conn:
            state.upsert_links(
                conn,
                pipeline=name,
                tenant_id=self.tenant_id,
                crm_object=self.pipeline.crm.object,
                rows=out.links,
                now=now,
            )
            clear_deleted(conn, name, out.restored)
            mark_deleted(conn, name, out.deleted, "crm", now)
            state.resolve_dead_letters(
                conn, name, out.resolved, now, stream=self.pipeline.crm.object
            )
            state.add_dead_letters(conn, name, self.run_id, out.dead, now)
            add_manual_conflicts(conn, name, out.conflicts, now)
            if audited and self.audit_keys is not None:
                record_events(conn, out.audit, keys=self.audit_keys, now=now)
            if cursor is not None:
                state.set_cursor(conn, name, self.pipeline.crm.object, Side.CRM, cursor, now)
            state.add_run_counts(
                conn,
                self.run_id,
                {"records_written": out.counts["written"], "records_failed": len(out.dead)},
            )
            self._renew(conn, now)
        out.counts["dead_lettered"] = len(out.dead)
        self._bump(out.counts)
        log.info(
            "pull.committed",
            written=out.counts["written"],
            deleted=out.counts["deleted"],
            conflicts=len(out.conflicts),
            dead_lettered=len(out.dead),
        )


def _rejected(record: Record, result: WriteResult, now: datetime) -> DeadLetterRow:
    error = result.error
    return crm_dead_letter(
        record,
        error.code if error else "UNKNOWN",
        error.message if error else "rejected without a reason",
        error.field if error else None,
        retry_at=now if error and error.retriable else None,
    )


def _ok(result: WriteResult | None) -> bool:
    return result is not None and result.ok
