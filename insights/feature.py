"""What the insights feature contributes to the product.

One record hook: orders go into the insights ledger and customers get their ``insights.*``
fields. It runs after the consent feature's hooks, so it never sees an erased or held person.
One daemon task: the insights refresh, every 5 minutes and soon after an orders run.
"""

from __future__ import annotations

from collections.abc import Callable

from insights.hooks import insights_hook
from insights.refresh import InsightsRefresh
from sync.feature import Feature, TaskScheduler
from sync.runner import Runner

__all__ = ["INSIGHTS_EVERY_S", "InsightsTask", "feature"]

#: the insights refresh runs at least this often (and soon after orders arrive)
INSIGHTS_EVERY_S = 300


class InsightsTask:
    """The insights refresh as a daemon task, when insights are enabled."""

    def __init__(self, runner: Callable[[], Runner]) -> None:
        self._runner = runner
        self._scheduler: TaskScheduler | None = None

    def schedule(self, scheduler: TaskScheduler) -> None:
        """(Re)schedule the task for the runner's config (or drop it)."""
        self._scheduler = scheduler
        if self._runner().config.insights.enabled:
            scheduler.add_task("insights", self.run, INSIGHTS_EVERY_S, first_in_s=30)
        else:
            scheduler.remove_task("insights")

    def run(self) -> None:
        """Recompute changed customers and push their fields; log one line per tenant."""
        runner, scheduler = self._runner(), self._scheduler
        if runner.stop.is_set() or scheduler is None:
            return
        refresh = InsightsRefresh.for_runner(runner)
        names = sorted(
            {p.crm.connection for t in refresh.tenants() for p in refresh.customer_pipelines(t)}
        )
        summaries = refresh.run()  # each connector call holds its connection, not the task
        scheduler.observe_calls(names)
        for s in summaries:
            scheduler.log.info(
                "insights.run_finished",
                full=s.full,
                recomputed=s.recomputed,
                fired=sum(s.fired.values()),
            )


def feature() -> Feature:
    """The insights feature: the ledger and ``insights.*`` fields hook, the refresh task."""
    return Feature(name="insights", hooks=(insights_hook,), tasks=(InsightsTask,))
