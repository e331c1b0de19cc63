"""The run lifecycle push and pull share: lock, run row, pause, errors, counters, summary.

A :class:`Run` is one execution of one pipeline in one direction. :meth:`Run.execute` takes the
pipeline's lock (and its ``runs`` row), calls the direction's :meth:`Run._run`, turns what it
raises into the run's status (paused on a spent budget or a tripped breaker, interrupted on
shutdown, failed otherwise) and always releases the lock and writes the counters. The push
engine (:class:`sync.push.engine.PipelineRun`) and the pull engine
(:class:`sync.pull.engine.PullRun`) each subclass it and implement ``_run``.

The two sides are ``shop`` (the B2Connect connector) and ``crm`` (the CRM connector).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from audit import KeyRing
from connectors.base import Connector
from connectors.calls import call_scope
from connectors.errors import BudgetExhausted, ConnectorError
from connectors.records import Page, Record
from mapping.compiler import CompiledMapping, compile_fields
from mapping.config import Pipeline
from store import begin_write
from store.models import RunStatus
from sync import fencing, leases, state
from sync.blanks import BlankGuard
from sync.breaker import record_trip
from sync.errors import BreakerTripped, Interrupted, StaleFence
from sync.hashing import FieldHasher
from sync.hooks import HookContext, RecordHook, Upcoming
from sync.retry import RetryPolicy

__all__ = [
    "LOCK_HELD",
    "LOCK_TTL",
    "Clock",
    "Progress",
    "Run",
    "RunSummary",
    "latest_per_key",
    "prefixed_progress",
    "running_elsewhere",
]

log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]
Progress = Callable[[Mapping[str, int]], None]
LOCK_TTL = timedelta(minutes=30)
#: the error of a run that did not start: another run of its pipeline holds the lease
LOCK_HELD = "another run of this pipeline holds the lock"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunSummary:
    """What a run did."""

    pipeline: str
    run_id: str
    status: RunStatus = RunStatus.RUNNING
    counts: Counter[str] = field(default_factory=Counter)
    api_calls: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    resume_at: datetime | None = None
    dry_run_plan: list[dict[str, Any]] = field(default_factory=list)
    #: things the operator should know about this run (one line each)
    notes: list[str] = field(default_factory=list)
    #: a dry run: its counts are ``would_*`` (what the same real run would count)
    dry_run: bool = False


@dataclass
class Run(ABC):
    """One run of one pipeline in one direction; subclasses implement :meth:`_run`."""

    pipeline: Pipeline
    #: the pipeline's B2Connect connector
    shop: Connector
    #: the pipeline's CRM connector
    crm: Connector
    db: sa.Engine
    hasher: FieldHasher
    tenant_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Clock = _utcnow
    full: bool = False
    dry_run: bool = False
    trigger: str = "manual"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    progress: Progress | None = None
    replay: bool = False
    audit_keys: KeyRing | None = None
    target_system: str = "crm"
    hooks: Sequence[RecordHook] = ()
    #: write batches in flight at once (the pipeline's ``concurrency``, else its CRM
    #: connection's; 1: one at a time)
    concurrency: int = 1
    #: the fencing token of the pipeline's distributed lock (workers): every commit checks it
    #: against the highest the store has seen (:mod:`sync.fencing`); None in one process
    fence: int | None = None
    #: what another pipeline would read next (hooks see it: :class:`sync.hooks.HookContext`)
    upcoming: Upcoming | None = None
    #: a run of named records only (a webhook's, beside a run of the whole pipeline): its
    #: own lease, never the cursor (``replay`` holds too), audited as a write, not a replay
    restricted: bool = False
    #: which of a pipeline's records runs in progress at once this is (each its own lease;
    #: the daemon gives them disjoint records)
    lane: int = 0

    def __post_init__(self) -> None:
        self.run_id = str(uuid.uuid4())
        self.mapping: CompiledMapping = compile_fields(self.pipeline.fields)
        self.summary = RunSummary(self.pipeline.name, self.run_id, dry_run=self.dry_run)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{self.run_id}"
        self._counts_lock = threading.Lock()
        self.blanks = BlankGuard(
            self.pipeline, self.db, self.clock,
            audit_keys=self.audit_keys, tenant_id=self.tenant_id, run_id=self.run_id,
        )  # fmt: skip

    @property
    def lock(self) -> str:
        """The name of the lock a run of this pipeline holds (a restricted run: its lane's)."""
        if not self.restricted:
            return f"pipeline:{self.pipeline.name}"
        return f"pipeline:{self.pipeline.name}:records" + (f":{self.lane}" if self.lane else "")

    def execute(self) -> RunSummary:
        """Run once; never raises for data or vendor problems (they end up in the summary)."""
        # bound for this run only: the caller's own context (e.g. the daemon's trigger) is
        # restored afterwards, never wiped
        with (
            structlog.contextvars.bound_contextvars(
                pipeline=self.pipeline.name, run_id=self.run_id
            ),
            call_scope() as calls,  # this run's calls only: others may share the connectors
        ):
            try:
                if not self.dry_run and not self._start():
                    self.summary.status = RunStatus.INTERRUPTED
                    self.summary.error = LOCK_HELD
                    return self.summary
                status, error = self._run_guarded()
                self.summary.status = status
                self.summary.error = error
            finally:
                self.summary.api_calls.update({k: v for k, v in calls.items() if v > 0})
                if not self.dry_run:
                    self._finish()
        return self.summary

    @abstractmethod
    def _run(self) -> None:
        """The run's own work (the push or the pull), inside the lifecycle above."""

    def _run_guarded(self) -> tuple[RunStatus, str | None]:
        try:
            self._run()
        except BudgetExhausted as exc:
            self.summary.resume_at = exc.resume_at
            self._remember_pause(exc.resume_at)
            log.warning("run.paused", reason=exc.message, resume_at=exc.resume_at.isoformat())
            return RunStatus.PAUSED, f"paused until {exc.resume_at.isoformat()}: {exc.message}"
        except Interrupted as exc:
            return RunStatus.INTERRUPTED, str(exc)
        except BreakerTripped as exc:
            if not self.dry_run:
                record_trip(self.db, exc.trip)
            return RunStatus.PAUSED, exc.trip.message
        except ConnectorError as exc:
            log.error("run.failed", error=type(exc).__name__, code=exc.code, reason=exc.message)
            return RunStatus.FAILED, f"{type(exc).__name__}: {exc.message}"
        except Exception as exc:
            log.exception("run.crashed", error=type(exc).__name__)
            return RunStatus.FAILED, f"internal error {type(exc).__name__}: {exc}"
        if self.stop.is_set():
            return RunStatus.INTERRUPTED, "stopped by shutdown between batches"
        return RunStatus.SUCCEEDED, None

    def _start(self) -> bool:
        # with a fence, the distributed lock decides: whoever held the lease before held an
        # older token (its commits are refused from now on), so its lease is stale
        stale = _stale_holder if self.fence is None else _fenced_out
        if self.fence is not None:
            try:
                with begin_write(self.db) as conn:
                    fencing.check_fence(conn, self.pipeline.name, self.fence)
            except StaleFence as exc:
                log.warning("run.stale_fence", token=exc.token, seen=exc.seen)
                return False
        return leases.start_locked_run(
            self.db, self.lock, owner=self.owner, run_id=self.run_id, pipeline=self.pipeline.name,
            trigger=self.trigger, now=self.clock(), ttl=LOCK_TTL, stale=stale,
        )  # fmt: skip

    def _finish(self) -> None:
        counts = {
            "records_read": self.summary.counts["read"],
            "records_written": self.summary.counts["written"],
            "records_skipped": self.summary.counts["unchanged"] + self.summary.counts["skipped"],
            "records_failed": self.summary.counts["dead_lettered"],
            "api_calls": sum(self.summary.api_calls.values()),
        }
        with begin_write(self.db) as conn:
            state.finish_run(
                conn, self.run_id, self.summary.status, counts, self.summary.error, self.clock()
            )
            leases.release_lock(conn, self.lock, self.owner)

    def _renew(self, conn: sa.Connection, now: datetime) -> None:
        """Extend the run's lock and check its fence (in the transaction that commits a
        flush: a stale fence raises and the flush rolls back)."""
        if self.fence is not None:
            fencing.check_fence(conn, self.pipeline.name, self.fence)
        leases.renew_lock(conn, self.lock, self.owner, now + LOCK_TTL)

    def _remember_pause(self, until: datetime) -> None:
        if self.dry_run:
            return
        with begin_write(self.db) as conn:
            state.set_setting(conn, f"paused_until:{self.pipeline.name}", until.isoformat())

    def _hook_context(self) -> HookContext:
        return HookContext(
            pipeline=self.pipeline,
            db=self.db,
            hasher=self.hasher,
            tenant_id=self.tenant_id,
            run_id=self.run_id,
            now=self.clock(),
            dry_run=self.dry_run,
            upcoming=self.upcoming,
        )

    def _page_read(self, page: Page) -> None:
        """Count a page read; where the API told the read's size, tell the progress display
        how many records are left (``remaining``: it shows a total and an ETA)."""
        self._bump({"read": len(page.records)})
        if page.total is not None and self.progress is not None:
            with self._counts_lock:
                left = max(0, page.total - self.summary.counts["read"])
            self.progress({"remaining": left})

    def _bump(self, counts: Mapping[str, int]) -> None:
        with self._counts_lock:  # the push's commit thread counts too
            self.summary.counts.update({k: v for k, v in counts.items() if v})
            if self.progress is not None:
                self.progress(counts)


def prefixed_progress(progress: Progress, prefix: str) -> Progress:
    """``progress`` with every count renamed ``<prefix><name>`` (a run's second half, a
    replay), as the summary adds that half's counts."""
    return lambda counts: progress({f"{prefix}{k}": v for k, v in counts.items()})


def latest_per_key(records: Sequence[Record]) -> list[Record]:
    """A key seen twice in one flush (overlapping reads, fast edits): keep the last."""
    latest: dict[str, Record] = {}
    for record in records:
        latest[record.key] = record
    return list(latest.values())


def running_elsewhere(db: sa.Engine, pipeline: str, now: datetime) -> leases.LeaseHolder | None:
    """The live run of ``pipeline`` that holds its lease (another process, e.g. the daemon),
    if any: a run started now would not start (:data:`LOCK_HELD`)."""
    return leases.lease_holder(db, f"pipeline:{pipeline}", now, _dead_owner)


def _stale_holder(owner: str) -> bool:
    """:func:`_dead_owner`, logged: its lease is released and its run marked interrupted."""
    if not _dead_owner(owner):
        return False
    log.warning("run.stale_lock_released", holder=owner)
    return True


def _fenced_out(owner: str) -> bool:
    """Under a fence every other lease holder is an older one (logged)."""
    log.warning("run.fenced_lock_released", holder=owner)
    return True


def _dead_owner(owner: str) -> bool:
    """A lock held by a process of this host that no longer exists (killed, crashed)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
