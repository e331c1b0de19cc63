"""The push engine: read → map → reconcile → batch write → commit.

The run lifecycle (lock, run row, pause, summary) is :class:`sync.run.Run`'s.

Cursors, links, dead letters, conflicts and run counters commit together, in one
transaction, only after the CRM acknowledged the batch; every CRM write is an upsert on the
B2Connect key, so a crash anywhere replays safely: nothing lost, nothing duplicated.

Above concurrency 1 (and without a match key or a push guard) flushes overlap: while one
flush's writes are in flight (:data:`FLIGHTS` at most), the next is read, run through its
hooks, planned and sent; a flush sharing a record with one in flight waits for it. Commits
still land one at a time in read order, each only after every batch of its flush came back
and the commit before it succeeded, so the cursor never passes an unacknowledged batch.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog

from audit import prepare_events, record_prepared
from connectors.records import Page, Record
from store import begin_write
from store.models import Side
from sync import state
from sync.auditing import AuditTrail
from sync.blanks import hold_first_blanks, push_blanks
from sync.conflicts.store import decisions
from sync.deleted_links import deleted_links
from sync.fanout import read_ahead
from sync.fingerprint import mapping_changed, mapping_fingerprint, remember_mapping
from sync.isolation import execute_isolated, hooks_isolated, screened
from sync.plan import Plan
from sync.push.deletes import (
    RESTORE_NEEDED,
    Restores,
    apply_deletions,
    check_restores,
    describe_deletions,
)
from sync.push.in_hand import IN_HAND
from sync.push.lines import replay_parked_lines, write_lines
from sync.push.pending import complete_pending, upstream_wait
from sync.push.reconcile import plan_records
from sync.push.writer import Flushed, Writer, WriterSteps
from sync.retry import change_pages
from sync.run import Run, latest_per_key
from sync.state import DeadLetterRow, LinkRow

__all__ = ["DEFAULT_FLUSH", "FLIGHTS", "PipelineRun"]

log = structlog.get_logger(__name__)
DEFAULT_FLUSH = 2000
#: flushes of one run whose writes are in flight at once (above concurrency 1)
FLIGHTS = 2


@dataclass(frozen=True)
class _Flight:
    """A flush whose writes are in flight: what to commit once they are back."""

    future: Future[Flushed]
    plan: Plan
    cursor: Mapping[str, Any] | None
    keys: frozenset[str]
    #: records the flush holds (:data:`sync.push.in_hand.IN_HAND`), given back once committed
    held: int


@dataclass
class PipelineRun(Run):
    """Runs one push pipeline once: B2Connect changes to the CRM."""

    #: filters each plan before it is written (``both`` pipelines: see sync.pull.guard)
    guard: Callable[[Plan], Plan] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._committer: ThreadPoolExecutor | None = None
        self._pending_commit: Future[None] | None = None
        #: the newest commit submitted (a later one commits only once it did: in read order)
        self._last_commit: Future[None] | None = None
        #: flushes whose writes are in flight, oldest first (pipelined: see _pipelined)
        self._flights: ThreadPoolExecutor | None = None
        self._in_flight: deque[_Flight] = deque()
        #: records read and not yet committed (counted in IN_HAND); the commit thread gives back
        self._held = 0
        self._held_lock = threading.Lock()

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        writer = self._writer()
        if not self.dry_run and not self.restricted:  # the whole pipeline's run completes them
            self._bump(complete_pending(writer))
        fingerprint = mapping_fingerprint(self.pipeline)
        cursor = None if (self.full or self.replay or self._remap(fingerprint)) else self._cursor()
        source: Iterator[Page] = iter(())
        try:
            shop, stream = self.shop, self.pipeline.b2connect.stream
            feed = change_pages(
                shop, stream, cursor, what=f"read {stream}", stop=self.stop, policy=self.retry
            )
            # the next B2Connect page is fetched while this one is planned and written
            source = read_ahead(feed) if self.concurrency > 1 else feed
            if not self._push_pages(writer, source, cursor):
                return
            self._land()
            if self.replay and not self.dry_run:
                self._await_commit()  # lines replay under their parents' committed links
                lines = replay_parked_lines(writer, self.shop)
                if lines is not None:
                    self._commit_in_background(lines, Plan(), None)
            self._await_commit()
            if not (self.dry_run or self.replay or self.stop.is_set()):
                self._associate_after_upstream(writer)
                with begin_write(self.db) as conn:
                    remember_mapping(conn, self.pipeline.name, fingerprint)
        finally:
            try:
                self._wind_down(source, writer)
            finally:  # flushes dropped on an error or a stop, also when a commit failed
                self._give_back(self._held)

    def _wind_down(self, source: Iterator[Page], writer: Writer) -> None:
        """Stop reading; land and commit what the CRM acknowledged; close the pools."""
        close = getattr(source, "close", None)
        if close is not None:
            close()  # waits for a page being read ahead
        try:
            self._land()  # acknowledged writes commit, also on a stop or an error
        finally:
            self._await_commit()
            writer.close()
            if self._flights is not None:
                self._flights.shutdown(wait=True)
                self._flights = None
        if self._committer is not None:
            self._committer.shutdown(wait=True)
            self._committer = None

    def _push_pages(
        self, writer: Writer, source: Iterator[Page], cursor: Mapping[str, Any] | None
    ) -> bool:
        """Flush the pages of ``source`` (a flush's worth at a time, or what the run holds when
        the process is over its bound); False when stopped."""
        buffer: list[Record] = []
        flush_size = self.pipeline.batch_size or DEFAULT_FLUSH
        last_cursor = cursor
        for page in source:
            over = self._hold(len(page.records))
            buffer.extend(page.records)
            last_cursor = page.cursor
            self._page_read(page)
            if len(buffer) >= flush_size or not page.has_more or over:
                self._flush(writer, buffer, last_cursor)
                buffer = []
            if over:  # the process holds more than its bound: this run gives back first
                self._drain()
            if self.stop.is_set():
                return False
        if buffer:
            self._flush(writer, buffer, last_cursor)
        return True

    def _associate_after_upstream(self, writer: Writer) -> None:
        """Started beside the pipelines it associates with (:func:`associating_after`): wait
        for them to finish, then make the associations deferred meanwhile (in batches)."""
        wait = upstream_wait()
        if wait is None:
            return
        wait()
        self._bump(complete_pending(writer))

    def _remap(self, fingerprint: str) -> bool:
        """Whether the mapping changed since the last successful run (then re-read all)."""
        if self.replay or self.full:
            return False
        with self.db.connect() as conn:
            changed = mapping_changed(conn, self.pipeline.name, fingerprint)
        if changed:
            log.info("mapping.changed", action="re-planning every record of the stream")
            self.summary.notes.append(
                "mapping changed since the last run: every record re-planned, "
                "only changed fields written"
            )
            self._bump({"remapped": 1})
        return changed

    def _cursor(self) -> dict[str, Any] | None:
        with self.db.connect() as conn:
            return state.get_cursor(
                conn, self.pipeline.name, self.pipeline.b2connect.stream, Side.B2CONNECT
            )

    def _flush(
        self, writer: Writer, records: Sequence[Record], cursor: Mapping[str, Any] | None
    ) -> None:
        held = len(records)
        records = latest_per_key(records)
        if any(not flight.keys.isdisjoint(r.key for r in records) for flight in self._in_flight):
            self._land()  # a record of a flush in flight: plan it on its committed state
        self._await_commit()
        hook_dead: list[DeadLetterRow] = []
        if self.hooks:
            records, hook_dead = hooks_isolated(self.hooks, self._hook_context(), records)
            if not records and not hook_dead:
                self._advance(cursor)
                self._give_back(held)
                return
        (plan, restores, links), prep_dead = screened(
            lambda some: self._plan(writer, some), records, "planning the flush"
        )
        plan.dead.extend([*hook_dead, *prep_dead])
        if self.guard is not None:
            plan = self.guard(plan)
        plan = hold_first_blanks(plan, links)
        self._bump({"unchanged": len(plan.unchanged), "parked": len(plan.parked)})
        if self.dry_run:
            rows, would = writer.preview(plan)
            deletes = describe_deletions(writer, plan)
            self.summary.dry_run_plan.extend([*rows, *deletes])
            would["would_write"] = would["would_create"] + would["would_update"]
            self._bump({**would, "would_delete": len(deletes)})
            self._give_back(held)
            return
        self.blanks.admit(push_blanks(plan.writes, links, self.hasher))
        if self._pipelined():
            self._land(keep=FLIGHTS - 1)  # the oldest flush's writes done, its commit queued
            keys = frozenset(r.key for r in records)
            self._take_off(writer, plan, restores, cursor, keys, held)
            return
        self._commit_in_background(self._fly(writer, plan, restores), plan, cursor, held)

    # ------------------------------------------------------------------ flushes in flight

    def _pipelined(self) -> bool:
        """Whether the next flush is planned while this one's writes are in flight.

        Only where a plan depends on nothing an uncommitted flush changes but its own
        records' links (a flush sharing a record with the one in flight waits for it):
        not with a match key (an identity lookup would not see the links of the flush in
        flight), a push guard (it reads the pull's state) or one call at a time."""
        return (
            self.concurrency > 1
            and not (self.dry_run or self.replay)
            and self.pipeline.match_key is None
            and self.guard is None
        )

    def _fly(self, writer: Writer, plan: Plan, restores: Restores | None) -> Flushed:
        """Write a planned flush (every stage); what to commit."""
        flushed = execute_isolated(writer.execute, plan)
        if restores is not None:
            restores.finish(writer, flushed)
        return flushed

    def _take_off(
        self,
        writer: Writer,
        plan: Plan,
        restores: Restores | None,
        cursor: Mapping[str, Any] | None,
        keys: frozenset[str],
        held: int,
    ) -> None:
        """Send a planned flush's writes on a flight thread; the loop reads, runs the hooks
        of and plans the next flush meanwhile, whose writes go out beside these.
        :meth:`_land` queues the commits, in read order."""
        if self._flights is None:
            self._flights = ThreadPoolExecutor(FLIGHTS, thread_name_prefix="b2sync-flight")
        context = contextvars.copy_context()
        future = self._flights.submit(context.run, self._fly, writer, plan, restores)
        self._in_flight.append(_Flight(future, plan, cursor, keys, held))

    def _land(self, keep: int = 0) -> None:
        """Wait for the oldest flushes in flight until ``keep`` are left (a failure fails the
        run) and queue their commits behind the earlier ones: commits land in read order, so
        the cursor never passes a batch the CRM has not acknowledged or a flush that did not
        commit."""
        while len(self._in_flight) > keep:
            flight = self._in_flight.popleft()
            try:
                flushed = flight.future.result()
            except BaseException:
                for later in self._in_flight:  # none of them commits: the cursor stays
                    later.future.exception()
                self._in_flight.clear()
                raise
            self._commit_in_background(flushed, flight.plan, flight.cursor, flight.held)

    def _plan(
        self, writer: Writer, records: list[Record]
    ) -> tuple[Plan, Restores | None, dict[str, LinkRow]]:
        """Load the flush's links and lookups and plan it (restores of deleted links first)."""
        keys = [r.key for r in records]
        with self.db.connect() as conn:
            links = state.load_links(conn, self.pipeline.name, keys)
            marks = deleted_links(conn, self.pipeline.name, keys)
            decided = decisions(conn, self.pipeline.name, RESTORE_NEEDED, keys) if marks else {}
            lookup = writer.prefetch_targets(conn, records)
        restores = check_restores(writer, records, links, marks, decided) if marks else None
        if restores is not None:
            records, links = restores.records, restores.links
        match = self.pipeline.match_key
        plan = plan_records(
            records,
            mapping=self.mapping,
            links=links,
            hasher=self.hasher,
            lengths=writer.lengths(self.pipeline.crm.object),
            link_lookup=lookup,
            associations=self.pipeline.associations,
            match_field=match.crm if match else None,
            match_source=match.b2connect if match else None,
            replay=self.replay,
        )
        return plan, restores, links

    def _commit_in_background(
        self, flushed: Flushed, plan: Plan, cursor: Mapping[str, Any] | None, held: int = 0
    ) -> None:
        """Commit a written flush on the commit thread while the next page is read.

        Only one commit is ever in flight and the next flush waits for it (:meth:`_await_commit`)
        before it runs its hooks or loads links, so every plan sees the state of all earlier
        flushes, and commits land in read order: a crash can only lose the newest uncommitted
        flush, which the cursor then replays (every write is an upsert).
        """
        if self._committer is None:
            self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="b2sync-commit")
        context = contextvars.copy_context()  # the log context (pipeline, run id) goes along
        self._pending_commit = self._last_commit = self._committer.submit(
            context.run, self._commit_after, self._last_commit, flushed, plan, cursor, held
        )

    def _commit_after(
        self,
        before: Future[None] | None,
        flushed: Flushed,
        plan: Plan,
        cursor: Mapping[str, Any] | None,
        held: int,
    ) -> None:
        """:meth:`_commit`, only once the commit before it succeeded (else its error); the
        flush's records are given back either way."""
        try:
            failed = before.exception() if before is not None else None
            if failed is not None:
                raise failed
            self._commit(flushed, plan, cursor)
        finally:
            self._give_back(held)

    def _await_commit(self) -> None:
        """Wait for the flush being committed; its failure fails the run."""
        pending, self._pending_commit = self._pending_commit, None
        if pending is not None:
            pending.result()

    def _hold(self, count: int) -> bool:
        """Count a page taken in; whether the process now holds more than its bound."""
        with self._held_lock:
            self._held += count
        return IN_HAND.take(count)

    def _give_back(self, count: int) -> None:
        with self._held_lock:
            count = min(count, self._held)
            self._held -= count
        IN_HAND.give_back(count)

    def _drain(self) -> None:
        """Wait until every flush of this run has been written and committed: it then holds
        nothing (see :mod:`sync.push.in_hand`)."""
        self._land()
        self._await_commit()

    def _advance(self, cursor: Mapping[str, Any] | None) -> None:
        """Move the cursor past a flush the hooks emptied (nothing to write)."""
        if self.dry_run or self.replay:
            return
        self._land()  # never past a flush in flight
        self._await_commit()
        with begin_write(self.db) as conn:
            state.set_cursor(
                conn,
                self.pipeline.name,
                self.pipeline.b2connect.stream,
                Side.B2CONNECT,
                cursor,
                self.clock(),
            )

    def _commit(self, flushed: Flushed, plan: Plan, cursor: Mapping[str, Any] | None) -> None:
        now = self.clock()
        name = self.pipeline.name
        prepared = None
        if self.audit_keys is not None and flushed.audit:
            # keys and encryption before the write lock: only the chaining happens under it
            with self.db.connect() as conn:
                prepared = prepare_events(conn, flushed.audit, keys=self.audit_keys, now=now)
        # the audit chain is appended in the same transaction; on SQLite take the write lock
        # at BEGIN so two writers cannot fork a tenant's chain
        with begin_write(self.db) as conn:
            flushed.apply(conn, now=now)
            if prepared is not None:
                record_prepared(conn, prepared)
            if not self.replay:
                state.set_cursor(
                    conn, name, self.pipeline.b2connect.stream, Side.B2CONNECT, cursor, now
                )
            state.add_run_counts(
                conn,
                self.run_id,
                {
                    "records_written": flushed.counts["written"],
                    "records_failed": flushed.counts["dead_lettered"],
                },
            )
            self._renew(conn, now)
        self._bump(flushed.counts)
        log.info(
            "batch.committed",
            written=flushed.counts["written"],
            unchanged=len(plan.unchanged),
            dead_lettered=flushed.counts["dead_lettered"],
            conflicts=flushed.counts["conflicts"],
        )

    # ------------------------------------------------------------------ helpers

    def _writer(self) -> Writer:
        return Writer(
            pipeline=self.pipeline,
            target=self.crm,
            hasher=self.hasher,
            tenant_id=self.tenant_id,
            run_id=self.run_id,
            stop=self.stop,
            retry=self.retry,
            clock=self.clock,
            db=self.db,
            steps=WriterSteps(deletions=apply_deletions, lines=write_lines),
            concurrency=self.concurrency,
            trail=AuditTrail(
                self.tenant_id, self.run_id, self.target_system, self.replay and not self.restricted
            )
            if self.audit_keys is not None
            else None,
        )
