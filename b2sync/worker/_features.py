"""The features' daemon tasks in the distributed mode: every one of them, per tenant.

The single daemon schedules each feature's tasks in its own process (consent sync, insights
refresh and push, erasure intake and steps, retention, audit anchoring: ``b2sync.features``).
Here the same factories hand their tasks to :class:`FeatureTasks`, which only collects them by
name with their interval: the scheduler enqueues ``b2sync.feature_task(tenant, name)`` when
one is due (:func:`task_intervals`, from the tenant's config alone), and a worker runs it
(:func:`feature_tasks` around the tenant's runner) under the tenant's ``task:<name>`` lock.
A task that kicks another (the audit anchor after erasures) enqueues it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import structlog

from b2sync.features import FEATURES

__all__ = ["INSIGHTS_TASK", "FeatureTasks", "feature_tasks", "task_intervals"]

log = structlog.get_logger(__name__)
#: the insights refresh: kicked after an orders run brought orders
INSIGHTS_TASK = "insights"


class FeatureTasks:
    """A feature's daemon tasks, collected by name instead of scheduled in-process."""

    def __init__(self, kick: Callable[[str], object] | None = None) -> None:
        self.fns: dict[str, Callable[[], object]] = {}
        self.every: dict[str, int] = {}
        self._kick = kick

    @property
    def log(self) -> Any:
        return log

    def add_task(
        self, name: str, fn: Callable[[], object], seconds: int, *, first_in_s: float = 0.0
    ) -> None:
        self.fns[name], self.every[name] = fn, seconds

    def remove_task(self, name: str) -> None:
        self.fns.pop(name, None)
        self.every.pop(name, None)

    def kick_task(self, name: str) -> None:
        """A kicked task is enqueued now (deduplicated), or runs at its next turn."""
        if self._kick is not None:
            self._kick(name)

    def connection_lock(self, connection: str) -> AbstractContextManager[object]:
        return nullcontext()

    def observe_calls(self, connections: Iterable[str]) -> None:
        """Call counts are the connectors' own in this mode."""


def feature_tasks(
    runner_of: Callable[[], Any], kick: Callable[[str], object] | None = None
) -> FeatureTasks:
    """Every feature's daemon tasks for one tenant's runner, by name, with their interval."""
    tasks = FeatureTasks(kick)
    for feature in FEATURES:
        for factory in feature.tasks:
            factory(runner_of).schedule(tasks)
    return tasks


@dataclass(frozen=True)
class _ConfigOnly:
    """What scheduling a feature's tasks reads of a runner: its config (no connections)."""

    config: Any


def task_intervals(config: Any) -> dict[str, int]:
    """The feature tasks a tenant with ``config`` has, and how often each is due (seconds)."""
    view = _ConfigOnly(config)
    return dict(feature_tasks(lambda: view).every)
