"""Pipelines on their schedules, one run at a time each, and "run now" for webhooks.

Every pipeline is one APScheduler job (``coalesce``, ``max_instances=1``). A webhook makes a
pipeline due through its own lane: a thread pool of its own (one thread per pipeline) that runs
the pipeline after a short debounce, so a burst of webhooks becomes one run and a webhook
never waits for a worker that scheduled runs and long tasks (a backfill, the consent sync, the
insights refresh) keep busy. A pipeline marked due while it runs is run again right after. The
records a webhook names also run at once on the lane, restricted to them
(:meth:`sync.runner.Runner.run_records`: no cursor, own lease), beside the pipeline's run in
progress (a backfill) or the run the webhook starts; up to ``RECORDS_LANES`` records runs per
pipeline at a time on disjoint records, each taking every record named while it ran.
Runs of different pipelines go on at the same time; the runner's connectors pass their
connection's gate for one call at a time (:mod:`sync.locks`), up to the connection's
``concurrency`` calls at once, so a webhook-triggered run's calls are not queued behind a
backfill's on a shared connection (the B2Connect ``shop`` above all).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor as Lane
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from b2sync.service._metrics import CallTracker, Metrics
from connectors.budget import urgent
from mapping.config import Pipeline
from store.models import RunStatus
from sync.locks import Gate
from sync.runner import Runner

__all__ = ["TASK_PREFIX", "PipelineScheduler", "trigger_for"]

log = structlog.get_logger("b2sync.service.scheduler")
#: job ids of tasks that are not pipelines (pipeline names cannot contain ':')
TASK_PREFIX = "task:"
#: the pause before a records run (a webhook's records): a burst's next webhooks join it
RECORDS_DEBOUNCE = timedelta(seconds=0.1)
#: records runs of one pipeline at once (on disjoint records), beside its other runs
RECORDS_LANES = 2


def trigger_for(pipe: Pipeline) -> IntervalTrigger | CronTrigger:
    """The APScheduler trigger of a pipeline's ``schedule``."""
    seconds = pipe.schedule.seconds
    if seconds is not None:
        return IntervalTrigger(seconds=seconds, timezone=UTC)
    assert pipe.schedule.cron is not None
    return CronTrigger.from_crontab(pipe.schedule.cron, timezone=UTC)


class PipelineScheduler:
    """APScheduler jobs for the runner's pipelines, plus debounced ``mark_due``."""

    def __init__(
        self,
        runner: Callable[[], Runner],
        metrics: Metrics,
        *,
        workers: int,
        debounce_s: float = 0.5,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._runner = runner
        self._metrics = metrics
        self._debounce = timedelta(seconds=debounce_s)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._calls = CallTracker()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._running: dict[str, datetime] = {}
        self._pending: set[str] = set()
        self._triggers: dict[str, str] = {}
        self._accepting = True
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=max(1, workers))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)
        #: the webhook lane: runs a webhook made due, apart from the scheduler's workers
        self._lane = Lane(max(1, workers), thread_name_prefix="b2sync-webhook")
        self._lane_queued: set[str] = set()
        #: records webhooks named while their pipeline ran, per pipeline (run beside it)
        self._lane_keys: dict[str, set[str]] = {}
        #: restricted runs in progress (shutdown waits for them too)
        self._beside = 0
        #: tasks in progress and when each started (a stop waits for them, up to the grace)
        self._tasks: dict[str, datetime] = {}
        #: per pipeline: the lanes of its records runs in progress, and the records they hold
        self._records_lanes: dict[str, set[int]] = {}
        self._records_keys: dict[str, set[str]] = {}
        self._closing = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """True while the scheduler thread runs and takes work."""
        return bool(self._scheduler.running) and self._accepting

    def start(self, pipelines: Sequence[Pipeline]) -> None:
        """Add one job per pipeline (first run now) and start."""
        self.apply(pipelines)
        self._scheduler.start()

    def apply(self, pipelines: Sequence[Pipeline]) -> None:
        """Make the jobs match ``pipelines``: drop gone ones, (re)schedule the rest."""
        wanted = {p.name: p for p in pipelines}
        for job in self._scheduler.get_jobs():
            if job.id not in wanted and not job.id.startswith(TASK_PREFIX):
                job.remove()
        now = self._clock()
        for pipe in pipelines:
            job = self._scheduler.get_job(pipe.name)
            if job is None:
                self._scheduler.add_job(
                    self._job, trigger_for(pipe), args=[pipe.name], id=pipe.name,
                    name=pipe.name, next_run_time=now,
                )  # fmt: skip
            else:
                self._scheduler.reschedule_job(pipe.name, trigger=trigger_for(pipe))

    @property
    def log(self) -> Any:
        """The scheduler's logger (feature tasks log their runs under it)."""
        return log

    def observe_calls(self, connections: Iterable[str]) -> None:
        """Count the API calls a task made on ``connections`` like a pipeline's."""
        runner = self._runner()
        for name in connections:
            self._metrics.observe_calls(name, self._calls.delta(name, runner.connector(name)))

    def pause(self) -> None:
        """Stop starting runs (running ones go on)."""
        with self._lock:
            self._accepting = False
        self._scheduler.pause()

    def resume(self) -> None:
        """Start runs again; pipelines marked due meanwhile run first."""
        with self._lock:
            self._accepting = True
            pending = list(self._pending)
        self._scheduler.resume()
        for name in pending:
            self._kick(name, timedelta(0))

    def wait_idle(self, timeout: float | None, *, tasks: bool = False) -> bool:
        """Wait until no run is in progress (``tasks``: and no task: the consent sync, the
        insights refresh, an erasure sweep); False when ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(
                lambda: not (self._running or self._beside or (tasks and self._tasks)), timeout
            )

    def shutdown(self) -> None:
        """Stop the scheduler thread and the webhook lane without waiting for runs."""
        self._closing.set()
        self._lane.shutdown(wait=False, cancel_futures=True)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def running_since(self) -> dict[str, datetime]:
        """Pipelines running now and when each run started."""
        with self._lock:
            return dict(self._running)

    def tasks_running(self) -> list[str]:
        """Tasks in progress now."""
        with self._lock:
            return sorted(self._tasks)

    # ------------------------------------------------------------------ tasks

    def add_task(
        self, name: str, fn: Callable[[], object], seconds: int, *, first_in_s: float = 0.0
    ) -> None:
        """A recurring job that is not a pipeline (erasure steps, retention), one at a time;
        it takes :meth:`connection_lock` around its own calls. Added again: rescheduled."""

        def run() -> None:
            with self._lock:
                self._tasks[name] = self._clock()
            # every line the task logs carries its name and a run id, like a pipeline run's
            with structlog.contextvars.bound_contextvars(task=name, run_id=str(uuid.uuid4())):
                try:
                    fn()
                except Exception as exc:  # a bug must not kill the scheduler thread
                    log.exception("task.crashed", error=type(exc).__name__)
                finally:
                    with self._lock:
                        self._tasks.pop(name, None)
                        self._idle.notify_all()

        self._scheduler.add_job(
            run, IntervalTrigger(seconds=seconds, timezone=UTC), id=TASK_PREFIX + name,
            name=TASK_PREFIX + name, replace_existing=True,
            next_run_time=self._clock() + timedelta(seconds=first_in_s),
        )  # fmt: skip

    def connection_lock(self, connection: str) -> Gate:
        """The gate every call on ``connection``'s connector passes (a task may hold it
        exclusively around a multi-call step; one step, never the whole task)."""
        return self._runner().locks.connection(connection)

    def remove_task(self, name: str) -> None:
        """Drop a task (e.g. retention turned off by a reload)."""
        if self._scheduler.get_job(TASK_PREFIX + name) is not None:
            self._scheduler.remove_job(TASK_PREFIX + name)

    def kick_task(self, name: str) -> None:
        """Run a task soon (debounced), e.g. when a webhook brought an erasure request."""
        self._kick(TASK_PREFIX + name, self._debounce)

    def mark_due(self, name: str, trigger: str = "webhook", keys: Sequence[str] = ()) -> bool:
        """Run pipeline ``name`` soon (debounced); False if it is not scheduled. ``keys``: the
        B2Connect records a webhook named: they run at once on their own (a records run, no
        cursor), beside the pipeline's run in progress or the one this webhook starts, so a
        new customer never waits for a whole run (a two-way pipeline reads the CRM first)."""
        if self._scheduler.get_job(name) is None:  # outside our lock: APScheduler's comes first
            return False
        records = trigger == "webhook" and bool(keys)
        with self._lock:
            self._triggers[name] = trigger
            if not self._accepting:
                self._pending.add(name)
                return True
            if records:
                self._lane_keys.setdefault(name, set()).update(keys)
            running = name in self._running
            if running:
                self._pending.add(name)
        if records:
            self._to_lane(name, records=True)
        if running:
            return True
        if trigger == "webhook":
            self._to_lane(name)
        else:
            self._kick(name, self._debounce)
        return True

    def _to_lane(self, name: str, *, records: bool = False) -> None:
        """Run ``name`` (``records``: only the records webhooks named meanwhile) on the
        webhook lane after the debounce (once for a burst)."""
        slot = f"records:{name}" if records else name
        with self._lock:
            if slot in self._lane_queued or self._closing.is_set():
                return
            self._lane_queued.add(slot)

        # a records run takes every record named while it waits or runs (_run_records), so
        # it needs no more than a short pause to gather a burst
        delay = min(self._debounce, RECORDS_DEBOUNCE) if records else self._debounce

        def run() -> None:
            if self._closing.wait(delay.total_seconds()):
                return
            with self._lock:
                self._lane_queued.discard(slot)
            if records:
                self._run_records(name)
            else:
                self._job(name)

        try:
            self._lane.submit(run)
        except RuntimeError:  # shut down meanwhile
            with self._lock:
                self._lane_queued.discard(slot)

    def _kick(self, name: str, delay: timedelta) -> None:
        job = self._scheduler.get_job(name)
        if job is None:
            return
        when = self._clock() + delay
        if job.next_run_time is None or job.next_run_time > when:
            job.modify(next_run_time=when)

    def _on_skipped(self, event: JobSubmissionEvent) -> None:
        with self._lock:
            if event.job_id in self._running:
                self._pending.add(event.job_id)
                return
        self._kick(event.job_id, self._debounce)

    # ------------------------------------------------------------------ the job

    def _job(self, name: str) -> None:
        with self._lock:
            if not self._accepting or name in self._running:  # the lane's or the schedule's
                self._pending.add(name)
                return
            self._running[name] = self._clock()
            self._pending.discard(name)
            trigger = self._triggers.pop(name, "schedule")
        try:
            self._run(name, trigger)
        except Exception as exc:  # a bug must not kill the scheduler thread
            log.exception("run.crashed", pipeline=name, error=type(exc).__name__)
        finally:
            with self._lock:
                self._running.pop(name, None)
                again = name in self._pending and self._accepting
                lane = self._triggers.get(name) == "webhook"
                self._idle.notify_all()
        if again and lane:
            self._to_lane(name)
        elif again:
            self._kick(name, timedelta(0))

    def _run(self, name: str, trigger: str) -> None:
        runner = self._runner()
        try:
            pipe = runner.config.pipeline(name)
        except KeyError:
            return
        if runner.stop.is_set():
            return
        connections = sorted({pipe.b2connect.connection, pipe.crm.connection})
        # a webhook's run takes the CRM budgets' next free slots before a backfill's queue
        lane = urgent() if trigger == "webhook" else nullcontext()
        with structlog.contextvars.bound_contextvars(pipeline=name, trigger=trigger), lane:
            self._run_pipeline(runner, pipe, trigger, connections)

    def _run_records(self, name: str) -> None:
        """The records webhooks named, restricted, beside the pipeline's other runs. Up to
        ``RECORDS_LANES`` records runs of a pipeline at once, on disjoint records: a record
        named again while a run has it waits for that run (its older version never lands
        after the newer). A run takes every record named while it ran when it ends, so a
        burst never queues one run per webhook."""
        with self._lock:
            if not self._accepting:
                return
            busy = self._records_lanes.setdefault(name, set())
            lane = next((i for i in range(RECORDS_LANES) if i not in busy), None)
            if lane is None:  # every lane busy: one of them takes these records next
                return
            keys = self._take_keys(name)
            if not keys:
                return
            busy.add(lane)
            self._beside += 1
        try:
            while keys:
                self._records_once(name, keys, lane)
                with self._lock:
                    self._records_keys.get(name, set()).difference_update(keys)
                    keys = self._take_keys(name) if self._accepting else []
        finally:
            with self._lock:
                self._records_lanes[name].discard(lane)
                self._records_keys.get(name, set()).difference_update(keys)
                self._beside -= 1
                self._idle.notify_all()

    def _take_keys(self, name: str) -> list[str]:
        """The records named for ``name`` that no records run has in hand (under the lock);
        they are in hand from now on."""
        named = self._lane_keys.get(name, set())
        held = self._records_keys.setdefault(name, set())
        keys = sorted(named - held)
        named.difference_update(keys)
        held.update(keys)
        return keys

    def _records_once(self, name: str, keys: list[str], lane: int) -> None:
        try:
            runner = self._runner()
            try:
                pipe = runner.config.pipeline(name)
            except KeyError:  # the pipeline is gone (a reload)
                return
            if runner.stop.is_set():
                return
            started = time.monotonic()
            with (
                structlog.contextvars.bound_contextvars(pipeline=name, trigger="webhook"),
                urgent(),
            ):
                summary = runner.run_records(pipe, keys, lane=lane)
            if summary is None:
                return
            self._metrics.observe_run(pipe, summary, time.monotonic() - started)
            log.info(
                "run.records_finished", run_id=summary.run_id, status=summary.status.value,
                records=len(keys), written=summary.counts["written"], error=summary.error,
            )  # fmt: skip
        except Exception as exc:  # a bug must not kill the lane
            log.exception("run.crashed", pipeline=name, error=type(exc).__name__)

    def _run_pipeline(
        self, runner: Runner, pipe: Pipeline, trigger: str, connections: list[str]
    ) -> None:
        started = time.monotonic()
        summary = runner.run_pipeline(pipe, trigger=trigger)
        replayed = runner.replay(pipe) if summary.status is RunStatus.SUCCEEDED else None
        if pipe.b2connect.stream == "orders" and summary.counts["read"]:
            self.kick_task("insights")  # new orders: recompute their customers soon
        seconds = time.monotonic() - started
        self._metrics.observe_run(pipe, summary, seconds)
        if replayed is not None:
            self._metrics.observe_run(pipe, replayed, None)
        for connection in connections:
            connector = runner.connector(connection)
            self._metrics.observe_calls(connection, self._calls.delta(connection, connector))
            self._metrics.observe_budget(connection, connector)
        log.info(
            "run.finished",
            run_id=summary.run_id,
            status=summary.status.value,
            read=summary.counts["read"],
            written=summary.counts["written"],
            dead_lettered=summary.counts["dead_lettered"],
            replayed=0 if replayed is None else replayed.counts["read"],
            api_calls=sum(summary.api_calls.values()),
            seconds=round(seconds, 3),
            error=summary.error,
        )
