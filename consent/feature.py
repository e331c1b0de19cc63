"""What the consent feature contributes to the product.

Two record hooks, in this order: the tombstone check (an erased person must never come back,
so it runs before anything else looks at a record) and the consent gate (people without the
consent a push pipeline requires are held back). Two daemon tasks: the consent sync, and the
privacy tasks (erasure intake and steps, retention, audit anchoring).
"""

from __future__ import annotations

from collections.abc import Callable

from consent.consent_service import consent_sync_for
from consent.erasure.daemon import PrivacyTasks
from consent.erasure.tombstones import tombstone_factory
from consent.gate import gate_factory
from sync.feature import Feature, TaskScheduler
from sync.runner import Runner

__all__ = ["ConsentTask", "feature"]


class ConsentTask:
    """The consent sync as a daemon task, when the config has a ``consent:`` section."""

    def __init__(self, runner: Callable[[], Runner]) -> None:
        self._runner = runner
        self._scheduler: TaskScheduler | None = None

    def schedule(self, scheduler: TaskScheduler) -> None:
        """(Re)schedule the task for the runner's config (or drop it)."""
        self._scheduler = scheduler
        settings = self._runner().config.consent
        if settings is None:
            scheduler.remove_task("consent")
        else:
            scheduler.add_task("consent", self.run, settings.schedule.seconds)

    def run(self) -> None:
        """One consent sync; each connector call holds its connection, not the task."""
        runner, scheduler = self._runner(), self._scheduler
        if runner.config.consent is None or runner.stop.is_set() or scheduler is None:
            return
        names = sorted(set(runner.config.consent.connections().values()))
        scheduler.log.info("consent.run_started")
        summary = consent_sync_for(runner).run()
        scheduler.observe_calls(names)  # its API calls count like a pipeline's
        scheduler.log.info(
            "consent.run_finished", decisions=summary.decisions, errors=len(summary.errors)
        )


def feature() -> Feature:
    """The consent feature: tombstones first, then the consent gate; its daemon tasks."""
    return Feature(
        name="consent",
        hooks=(tombstone_factory, gate_factory),
        tasks=(ConsentTask, PrivacyTasks),
    )
