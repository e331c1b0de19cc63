"""Enqueueing runs: at most one queued run per tenant and pipeline.

The scheduler, the HTTP service (a verified webhook, already stored before its 2xx) and the
CLI call :meth:`Enqueuer.run`. A marker ``b2sync:queued:<tenant>:<pipeline>`` (``SET NX``)
stands for the queued run; the task clears it when it starts, so a change arriving during a
run queues exactly one re-run, and a burst of webhooks or a slow worker never piles up runs.
The marker expires by itself (``MARKER_TTL_S``) should its message be lost with Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import Celery

__all__ = ["MARKER_TTL_S", "Enqueuer", "backfilled_key", "queued_key"]

MARKER_TTL_S = 3600
RUN_TASK = "b2sync.run"
FEATURE_TASK = "b2sync.feature_task"


def backfilled_key(tenant: str) -> str:
    """The set of the tenant's pipelines that have finished a first run (a worker adds each;
    a pipeline not in it is enqueued on the ``backfill`` lane directly)."""
    return f"b2sync:backfilled:{tenant}"


def queued_key(tenant: str, name: str) -> str:
    """The marker of a queued run of ``name`` (a pipeline or a feature task)."""
    return f"b2sync:queued:{tenant}:{name}"


@dataclass
class Enqueuer:
    """Puts runs on the broker, deduplicated per tenant and pipeline."""

    app: Celery
    redis: Any

    def run(
        self,
        tenant: str,
        pipeline: str,
        *,
        lane: str = "scheduled",
        trigger: str = "",
        countdown: float | None = None,
    ) -> bool:
        """Queue a run of ``tenant``'s ``pipeline``; False when one is queued already."""
        if not self.redis.set(queued_key(tenant, pipeline), lane, nx=True, ex=MARKER_TTL_S):
            return False
        self.app.send_task(
            RUN_TASK,
            args=[tenant, pipeline],
            kwargs={"trigger": trigger or lane},
            queue=lane,
            countdown=countdown,
        )
        return True

    def mark_due(self, tenant: str, pipeline: str, trigger: str = "webhook") -> bool:
        """A webhook's change: queue a run on the ``webhooks`` lane (the daemon's
        ``PipelineScheduler.mark_due`` for the distributed mode)."""
        return self.run(tenant, pipeline, lane="webhooks", trigger=trigger)

    def feature_task(self, tenant: str, name: str) -> bool:
        """Queue one run of a feature's task (erasure steps, consent sync, insights)."""
        if not self.redis.set(queued_key(tenant, f"task:{name}"), 1, nx=True, ex=MARKER_TTL_S):
            return False
        self.app.send_task(FEATURE_TASK, args=[tenant, name], queue="scheduled")
        return True
