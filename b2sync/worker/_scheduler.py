"""``b2sync scheduler``: enqueue every tenant's due pipeline runs and feature tasks (every
task the single daemon would run for the tenant's config: :mod:`._features`).

Due-ness lives in Redis, not in the scheduler's memory: a run of ``tenant``/``pipeline`` is
due when ``SET b2sync:due:<tenant>:<pipeline> NX PX <interval>`` succeeds, so a restarted
scheduler does not enqueue early and two scheduler replicas do not enqueue twice. What it
enqueues is deduplicated again by :class:`~b2sync.worker.Enqueuer` (one queued run per
tenant and pipeline). A pipeline no worker has finished a first run of
(``b2sync:backfilled:<tenant>``) goes straight to the ``backfill`` lane, instead of a hop
through ``scheduled`` that would build the tenant's runner only to find no cursor. Cron schedules are enqueued every ``CRON_FALLBACK_S`` here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import structlog

from b2sync.tenants import Tenants
from b2sync.worker._enqueue import Enqueuer, backfilled_key
from b2sync.worker._features import task_intervals

__all__ = ["CRON_FALLBACK_S", "SchedulerLoop"]

log = structlog.get_logger(__name__)
CRON_FALLBACK_S = 300


@dataclass
class SchedulerLoop:
    """Ticks every ``tick_s``: enqueues what is due for every tenant."""

    tenants: Tenants
    enqueuer: Enqueuer
    tick_s: float = 1.0
    stop: threading.Event = field(default_factory=threading.Event)
    _configs: dict[str, tuple[tuple[int, ...], Any, dict[str, int]]] = field(default_factory=dict)

    def _config(self, tenant_id: str) -> tuple[Any, dict[str, int]]:
        """The tenant's config and its feature tasks' intervals, parsed again only when its
        files changed (1,000 tenants' configs cannot be parsed every tick)."""
        tenant = self.tenants.get(tenant_id)
        files = [p for p in (tenant.config_path, tenant.base) if p is not None]
        stamp = tuple(p.stat().st_mtime_ns for p in files)
        cached = self._configs.get(tenant_id)
        if cached is None or cached[0] != stamp:
            config = tenant.config()
            cached = self._configs[tenant_id] = (stamp, config, task_intervals(config))
        return cached[1], cached[2]

    def _due(self, tenant: str, name: str, seconds: int) -> bool:
        redis: Any = self.enqueuer.redis
        return bool(redis.set(f"b2sync:due:{tenant}:{name}", 1, nx=True, px=seconds * 1000))

    def tick(self) -> int:
        """Enqueue what is due now; how many runs were queued."""
        queued = 0
        for tenant_id in self.tenants.ids():
            config, intervals = self._config(tenant_id)
            backfilled = {
                name.decode() for name in self.enqueuer.redis.smembers(backfilled_key(tenant_id))
            }
            for pipe in config.pipelines:
                if not pipe.enabled:
                    continue
                seconds = pipe.schedule.seconds or CRON_FALLBACK_S
                if self._due(tenant_id, pipe.name, seconds):
                    lane = "scheduled" if pipe.name in backfilled else "backfill"
                    queued += self.enqueuer.run(tenant_id, pipe.name, lane=lane, trigger="schedule")
            for name, seconds in intervals.items():
                if self._due(tenant_id, f"task:{name}", seconds):
                    queued += self.enqueuer.feature_task(tenant_id, name)
        return queued

    def run_forever(self) -> None:
        """Tick until :attr:`stop` is set (SIGTERM)."""
        while not self.stop.is_set():
            try:
                count = self.tick()
            except Exception as exc:  # noqa: BLE001  # Redis away, a broken tenant config: retry
                log.error("scheduler.tick_failed", error=type(exc).__name__, reason=str(exc))
            else:
                if count:
                    log.info("scheduler.enqueued", runs=count)
            self.stop.wait(self.tick_s)
