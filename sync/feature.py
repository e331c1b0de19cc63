"""What a feature package hands the composition root: record hooks and daemon tasks.

A feature (``consent``, ``insights``) exposes a ``feature()`` that returns a :class:`Feature`;
the composition root (``b2sync.features``) lists the features in the order their hooks must
run and hands the hooks to every :class:`~sync.runner.Runner` and the tasks to the daemon's
scheduler. The engine never imports a feature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sync.hooks import HookFactory
from sync.runner import Runner

__all__ = ["DaemonTasks", "Feature", "TaskFactory", "TaskScheduler"]


class TaskScheduler(Protocol):
    """What a feature's daemon tasks may ask of the daemon's scheduler."""

    @property
    def log(self) -> Any:
        """The scheduler's logger: tasks log their runs under it."""

    def add_task(
        self, name: str, fn: Callable[[], object], seconds: int, *, first_in_s: float = 0.0
    ) -> None: ...
    def remove_task(self, name: str) -> None: ...
    def kick_task(self, name: str) -> None: ...
    def connection_lock(self, connection: str) -> AbstractContextManager[object]: ...
    def observe_calls(self, connections: Iterable[str]) -> None: ...


class DaemonTasks(Protocol):
    """A feature's recurring work in the daemon, (re)scheduled at start and on each reload."""

    def schedule(self, scheduler: TaskScheduler) -> None: ...


#: builds a feature's tasks around the daemon's current runner (it changes on reload)
TaskFactory = Callable[[Callable[[], Runner]], DaemonTasks]


@dataclass(frozen=True)
class Feature:
    """What a feature contributes to the product: its record hook factories in the order
    they run, and its daemon tasks (the composition root orders the features themselves)."""

    name: str
    hooks: tuple[HookFactory, ...] = ()
    tasks: tuple[TaskFactory, ...] = ()
