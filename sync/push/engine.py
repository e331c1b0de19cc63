"""The push engine: read → map → reconcile → batch write → commit.

The run lifecycle (lock, run row, pause, summary) is :class:`sync.run.Run`'s.

Cursors, links, dead letters, conflicts and run counters commit together, in one
transaction, only after the CRM acknowledged the batch; every CRM write is an upsert on the
B2Connect key, so a crash anywhere replays safely: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import contextvars
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
from sync.push.lines import replay_parked_lines, write_lines
from sync.push.pending import complete_pending
from sync.push.reconcile import plan_records
from sync.push.writer import Flushed, Writer, WriterSteps
from sync.retry import pages
from sync.run import Run, latest_per_key
from sync.state import DeadLetterRow, LinkRow

__all__ = ["DEFAULT_FLUSH", "PipelineRun"]

log = structlog.get_logger(__name__)
DEFAULT_FLUSH = 2000


@dataclass
class PipelineRun(Run):
    """Runs one push pipeline once: B2Connect changes to the CRM."""

    #: filters each plan before it is written (``both`` pipelines: see sync.pull.guard)
    guard: Callable[[Plan], Plan] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._committer: ThreadPoolExecutor | None = None
        self._pending_commit: Future[None] | None = None

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        writer = self._writer()
        if not self.dry_run:
            self._bump(complete_pending(writer))
        fingerprint = mapping_fingerprint(self.pipeline)
        cursor = None if (self.full or self.replay or self._remap(fingerprint)) else self._cursor()
        buffer: list[Record] = []
        flush_size = self.pipeline.batch_size or DEFAULT_FLUSH
        last_cursor: Mapping[str, Any] | None = cursor
        source: Iterator[Page] = iter(())
        try:
            shop, stream = self.shop, self.pipeline.b2connect.stream
            feed = pages(
                lambda at: shop.read_changes(stream, at),
                cursor,
                what=f"read {stream}",
                stop=self.stop,
                policy=self.retry,
            )
            # the next B2Connect page is fetched while this one is planned and written
            source = read_ahead(feed) if self.concurrency > 1 else feed
            for page in source:
                buffer.extend(page.records)
                last_cursor = page.cursor
                self._page_read(page)
                if len(buffer) >= flush_size or not page.has_more:
                    self._flush(writer, buffer, last_cursor)
                    buffer = []
                if self.stop.is_set():
                    return
            if buffer:
                self._flush(writer, buffer, last_cursor)
            if self.replay and not self.dry_run:
                self._await_commit()  # lines replay under their parents' committed links
                lines = replay_parked_lines(writer, self.shop)
                if lines is not None:
                    self._commit_in_background(lines, Plan(), None)
            self._await_commit()
            if not (self.dry_run or self.replay or self.stop.is_set()):
                with begin_write(self.db) as conn:
                    remember_mapping(conn, self.pipeline.name, fingerprint)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # waits for a page being read ahead
            self._await_commit()
            writer.close()
            if self._committer is not None:
                self._committer.shutdown(wait=True)
                self._committer = None

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
        self._await_commit()
        records = latest_per_key(records)
        hook_dead: list[DeadLetterRow] = []
        if self.hooks:
            records, hook_dead = hooks_isolated(self.hooks, self._hook_context(), records)
            if not records and not hook_dead:
                self._advance(cursor)
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
            return
        self.blanks.admit(push_blanks(plan.writes, links, self.hasher))
        flushed = execute_isolated(writer.execute, plan)
        if restores is not None:
            restores.finish(writer, flushed)
        self._commit_in_background(flushed, plan, cursor)

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
        self, flushed: Flushed, plan: Plan, cursor: Mapping[str, Any] | None
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
        self._pending_commit = self._committer.submit(
            context.run, self._commit, flushed, plan, cursor
        )

    def _await_commit(self) -> None:
        """Wait for the flush being committed; its failure fails the run."""
        pending, self._pending_commit = self._pending_commit, None
        if pending is not None:
            pending.result()

    def _advance(self, cursor: Mapping[str, Any] | None) -> None:
        """Move the cursor past a flush the hooks emptied (nothing to write)."""
        if self.dry_run or self.replay:
            return
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
            trail=AuditTrail(self.tenant_id, self.run_id, self.target_system, self.replay)
            if self.audit_keys is not None
            else None,
        )
