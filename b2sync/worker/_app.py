"""The Celery app of the workers: Redis broker, late acks, one task at a time, lanes.

- ``task_acks_late``: a task is acknowledged when it ends, so a worker killed mid-run leaves
  its message unacknowledged; Redis's transport redelivers it after ``visibility_timeout``
  (``task_reject_on_worker_lost`` requeues at once when only the pool's child dies). The
  redelivered run resumes from the committed cursor: nothing is lost, nothing written twice
  (every CRM write is an upsert on the B2Connect key).
- ``worker_prefetch_multiplier=1``: a worker reserves one message per process, so a long
  backfill does not sit on messages other workers could run.
- Lanes (queues), consumed in strict priority order: ``webhooks`` (changes someone waits
  for), ``scheduled`` (periodic runs, feature tasks), ``backfill`` (first or full runs of a
  pipeline). A tenant's million-order backfill occupies one worker process at most; every
  free process takes webhook runs first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from celery import Celery
from kombu.entity import Exchange, Queue

__all__ = ["LANES", "WorkerSettings", "make_app"]

#: the queues, highest priority first
LANES = ("webhooks", "scheduled", "backfill")


@dataclass(frozen=True)
class WorkerSettings:
    """Where the broker is and how long an unacknowledged task waits before redelivery."""

    broker_url: str
    #: seconds before a task whose worker vanished is delivered again; longer than a run
    #: slice, shorter than the time a tenant may wait after a crash
    visibility_timeout_s: int = 300
    #: the lease of a run's lock in Redis (renewed every third of it while the run goes on):
    #: how long a dead worker's pipeline stays blocked
    lock_ttl_s: float = 30.0

    @classmethod
    def from_env(cls, broker_url: str | None = None) -> WorkerSettings:
        url = broker_url or os.environ.get("B2SYNC_BROKER_URL") or "redis://127.0.0.1:6379/0"
        timeout = int(os.environ.get("B2SYNC_VISIBILITY_TIMEOUT_S", "300"))
        lock_ttl = float(os.environ.get("B2SYNC_LOCK_TTL_S", "30"))
        return cls(url, timeout, lock_ttl)


def _queue(name: str) -> Queue:
    """A lane: its own direct exchange and routing key (the delivery says which lane)."""
    exchange = Exchange(name, type="direct")  # type: ignore[no-untyped-call]
    return Queue(name, exchange, routing_key=name)  # type: ignore[no-untyped-call]


def make_app(settings: WorkerSettings) -> Celery:
    """The Celery app on ``settings``' broker, with the tasks of :mod:`._tasks` registered."""
    app = Celery("b2sync", broker=settings.broker_url, set_as_current=False)
    app.conf.b2sync_lock_ttl_s = settings.lock_ttl_s
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue="scheduled",
        task_queues=[_queue(name) for name in LANES],
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            # sweep for unacknowledged messages of dead workers often enough to redeliver
            # them about one visibility timeout after the death, not ten of them
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_s // 2)),
            "unacked_restore_throttle": 1,
            "queue_order_strategy": "priority",
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    from b2sync.worker._tasks import register

    register(app)
    return app
