"""The daemon's privacy tasks: erasure intake and steps every minute, retention on its own
schedule, audit chain anchoring every ``audit.anchor_every_minutes`` and after erasures.
Webhook-borne requests wait in the store's erasure inbox (written before the webhook is
answered, see :mod:`consent.erasure.inbox`), which the erasure task drains; the HTTP thread
never calls a system."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import structlog

from audit import anchor
from consent.erasure.inbox import drain_inbox, put_in_inbox
from consent.erasure.retention import run_retention
from consent.erasure.service import Guard, desk_for, no_guard, processor_for
from consent.erasure.sources import IntakeItem, poll_sources
from consent.erasure.store import seal_key
from store import begin_write
from sync.runner import Runner
from sync.settings import resolve

__all__ = ["ERASURE_EVERY_S", "PrivacyTasks"]

log = structlog.get_logger(__name__)
ERASURE_EVERY_S = 60


class TaskScheduler(Protocol):
    """What the tasks need from :class:`b2sync.service._scheduler.PipelineScheduler`."""

    def add_task(
        self, name: str, fn: Callable[[], object], seconds: int, *, first_in_s: float = 0.0
    ) -> None: ...
    def remove_task(self, name: str) -> None: ...
    def kick_task(self, name: str) -> None: ...
    def connection_lock(self, connection: str) -> AbstractContextManager[object]: ...


class PrivacyTasks:
    """Erasure and retention jobs around the daemon's current runner."""

    def __init__(self, runner: Callable[[], Runner]) -> None:
        self._runner = runner
        self._guard: Guard | None = None

    def schedule(self, scheduler: TaskScheduler) -> None:
        """(Re)schedule the tasks for the runner's config."""
        config = self._runner().config
        self._guard = scheduler.connection_lock
        scheduler.add_task("erasure", self.erasure_tick, ERASURE_EVERY_S, first_in_s=5)
        retention = config.retention
        if retention is not None and retention.enabled:
            scheduler.add_task("retention", self.retention_tick, retention.seconds, first_in_s=60)
        else:
            scheduler.remove_task("retention")
        if config.audit.enabled:
            every = config.audit.anchor_every_minutes * 60
            scheduler.add_task("audit-anchor", self.anchor_tick, every, first_in_s=30)
        else:
            scheduler.remove_task("audit-anchor")

    def receive(self, items: Sequence[Any]) -> None:
        """Store requests in the inbox (filed by the next erasure tick)."""
        runner = self._runner()
        wanted = [i for i in items if isinstance(i, IntakeItem)]
        with begin_write(runner.db) as conn:
            put_in_inbox(conn, seal_key(runner.hasher), wanted, runner.clock())

    def erasure_tick(self) -> None:
        """File the inbox's and the polled requests, then run every due step."""
        runner = self._runner()
        guard = self._guard or no_guard
        desk = desk_for(runner, guard)
        filed = drain_inbox(desk, seal_key(runner.hasher)) + poll_sources(runner, desk)
        outcomes = processor_for(runner, guard).process()
        if filed or outcomes:
            log.info("erasure.tick", filed=len(filed), steps=len(outcomes))
            self.anchor_tick()  # an erasure's events are anchored outside the database at once

    def anchor_tick(self) -> None:
        """Sign every chain head into settings, the log and ``audit.anchor_path``."""
        runner = self._runner()
        if runner.audit_keys is None:
            return
        setting = runner.config.audit.anchor_path
        path = Path(resolve(setting)) if setting else None
        with begin_write(runner.db) as conn:
            anchor(conn, keys=runner.audit_keys, anchor_path=path)

    def retention_tick(self) -> None:
        """Apply the retention policy."""
        report = run_retention(self._runner(), dry_run=False, guard=self._guard or no_guard)
        log.info("retention.tick", inactive=report.inactive, acted=report.acted)
