"""Scale-out: Celery workers on a Redis broker run pipeline runs, webhook-driven runs and
feature tasks (erasures, consent sync, insights) for many tenants; ``b2sync scheduler``
enqueues what is due. See docs/scale-out.md.

- :mod:`._app`: the Celery app (acks late, reject on worker lost, prefetch 1, lanes)
- :mod:`._tenancy`: per-process tenant runners, the shared budgets and the fenced run
- :mod:`._tasks`: the tasks (keyed by tenant and pipeline or task name)
- :mod:`._enqueue`: enqueueing with one queued run per tenant and pipeline
- :mod:`._scheduler`: the scheduler loop
- :mod:`._front`: the HTTP service for every tenant (``/t/<tenant>/webhooks/...``), enqueue only
"""

from __future__ import annotations

from b2sync.worker._app import LANES, WorkerSettings, make_app
from b2sync.worker._enqueue import Enqueuer
from b2sync.worker._front import TenantFront, front_app
from b2sync.worker._scheduler import SchedulerLoop
from b2sync.worker._tenancy import TenantRunners

__all__ = [
    "LANES",
    "Enqueuer",
    "SchedulerLoop",
    "TenantFront",
    "TenantRunners",
    "WorkerSettings",
    "front_app",
    "make_app",
]
