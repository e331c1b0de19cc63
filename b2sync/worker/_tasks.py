"""The workers' tasks, keyed by tenant and pipeline (or feature task name).

``b2sync.run(tenant, pipeline)``: clear the queued marker, take the tenant's pipeline lock in
Redis (fencing token), run the pipeline with the token (every commit checks it), release.
A pipeline that has never committed a cursor is a backfill: it moves to the ``backfill`` lane
so that it does not hold up the lanes webhooks use. If another worker holds the lock, the run
is queued again (deduplicated) for after it. A run stopped by the worker's shutdown is
rejected back to the queue; a worker killed outright leaves its message unacknowledged and
Redis delivers it again: the run resumes from the committed cursor.

After a run that succeeded, the pipeline's due dead letters are replayed under the same
token, and an orders run that read orders enqueues the tenant's insights refresh (what the
single daemon does after each run).

``b2sync.feature_task(tenant, name)``: one run of one of a feature's daemon tasks (consent
sync, insights refresh, erasure steps, retention, audit anchoring: :mod:`._features`) under
the tenant's ``task:<name>`` lock, so two workers never run one tenant's task at once.
"""

from __future__ import annotations

import json
import os
from typing import Any

import redis as redis_lib
import sqlalchemy as sa
import structlog
from celery import Celery, Task, signals
from celery.exceptions import Reject

from b2sync.tenants import Tenants, load_tenants, single_tenant
from b2sync.worker._enqueue import FEATURE_TASK, RUN_TASK, Enqueuer, backfilled_key, queued_key
from b2sync.worker._features import INSIGHTS_TASK, feature_tasks
from b2sync.worker._tenancy import (
    HUBSPOT_PER_10S,
    MAX_TENANTS_CACHED,
    SALESFORCE_CONCURRENCY,
    TenantRunners,
    fenced,
)
from store import StoreUnavailable
from store.models import RunStatus, Side
from sync import state
from sync.fencing import stored_fence
from sync.run import RunSummary

__all__ = ["register", "worker_tenants"]

log = structlog.get_logger(__name__)
#: how soon a run that found its pipeline busy is tried again
BUSY_RETRY_S = 2.0
#: how soon a run that could not reach its tenant's store is tried again
STORE_RETRY_S = 5.0

_process: dict[str, TenantRunners] = {}


def worker_tenants() -> Tenants:
    """The tenants this worker serves: ``B2SYNC_TENANTS`` (a tenants.yaml) or the one tenant
    of ``B2SYNC_CONFIG`` (set by ``b2sync worker``)."""
    path = os.environ.get("B2SYNC_TENANTS")
    if path:
        return load_tenants(path)
    return single_tenant(os.environ.get("B2SYNC_CONFIG", "config.yaml"))


def _runners(app: Celery) -> TenantRunners:
    runners = _process.get("runners")
    if runners is None:
        client = redis_lib.Redis.from_url(app.conf.broker_url)
        # runtime knobs the config does not carry, per connector type (docs/scale-out.md)
        options = json.loads(os.environ.get("B2SYNC_CONNECTOR_OPTIONS") or "{}")
        # the portals' burst limit (HubSpot: 100 or 190 per 10 s by tier, 250 with the add-on)
        per_10s = int(os.environ.get("B2SYNC_HUBSPOT_PER_10S") or HUBSPOT_PER_10S)
        # the orgs' cap on long-running calls in flight (Salesforce: 25 per org)
        org_slots = int(os.environ.get("B2SYNC_SALESFORCE_CONCURRENCY") or SALESFORCE_CONCURRENCY)
        cached = int(os.environ.get("B2SYNC_MAX_TENANTS_CACHED") or MAX_TENANTS_CACHED)
        runners = _process["runners"] = TenantRunners(
            worker_tenants(), client, connector_options=options, hubspot_per_10s=per_10s,
            salesforce_concurrency=org_slots, max_cached=cached,
        )  # fmt: skip
    return runners


def _needs_backfill(runners: TenantRunners, tenant: str, pipeline: str) -> bool:
    runner = runners.runner(tenant)
    pipe = runner.config.pipeline(pipeline)
    with runner.db.connect() as conn:
        return state.get_cursor(conn, pipe.name, pipe.b2connect.stream, Side.B2CONNECT) is None


def register(app: Celery) -> None:
    """Register the tasks on ``app``."""

    @app.task(name=RUN_TASK, bind=True, acks_late=True)  # type: ignore[untyped-decorator]
    def run(self: Task, tenant: str, pipeline: str, trigger: str = "scheduled") -> dict[str, Any]:
        runners = _runners(app)
        lane = (self.request.delivery_info or {}).get("routing_key", "scheduled")
        enqueuer = Enqueuer(app, runners.redis)
        runners.redis.delete(queued_key(tenant, pipeline))
        with runners.use(tenant):
            try:
                return _run(runners, enqueuer, tenant, pipeline, lane, trigger)
            except (StoreUnavailable, sa.exc.OperationalError) as exc:  # the store is away
                log.warning("worker.store_unavailable", tenant=tenant, error=type(exc).__name__)
                enqueuer.run(tenant, pipeline, lane=lane, trigger=trigger, countdown=STORE_RETRY_S)
                return {"status": "store unavailable, queued again"}

    def _run(
        runners: TenantRunners, enqueuer: Enqueuer, tenant: str, pipeline: str, lane: str,
        trigger: str,
    ) -> dict[str, Any]:  # fmt: skip
        if lane != "backfill" and _needs_backfill(runners, tenant, pipeline):
            enqueuer.run(tenant, pipeline, lane="backfill", trigger=trigger)
            return {"status": "moved to backfill"}
        runner = runners.runner(tenant)
        pipe = runner.config.pipeline(pipeline)
        with runner.db.connect() as conn:  # tokens stay above the store's even if Redis lost them
            floor = stored_fence(conn, pipeline)

        def body(token: int) -> RunSummary:
            summary = runner.run_pipeline(pipe, trigger=trigger, fence=token)
            if summary.status is RunStatus.SUCCEEDED:  # then the due dead letters, as the
                runner.replay(pipe, fence=token)  # daemon does after each run
            return summary

        ran, summary = fenced(
            runners.redis, tenant, pipeline, body, float(app.conf.b2sync_lock_ttl_s), floor
        )
        if not ran:  # another worker runs it: one run after it picks up what arrived meanwhile
            enqueuer.run(tenant, pipeline, lane=lane, trigger=trigger, countdown=BUSY_RETRY_S)
            return {"status": "busy, queued again"}
        assert summary is not None
        if summary.status is RunStatus.INTERRUPTED and runners.stop.is_set():
            raise Reject("worker shutting down", requeue=True)
        if summary.status is RunStatus.SUCCEEDED:  # later runs: the scheduled lane
            runners.redis.sadd(backfilled_key(tenant), pipeline)
        if pipe.b2connect.stream == "orders" and summary.counts["read"]:
            enqueuer.feature_task(tenant, INSIGHTS_TASK)  # new orders: recompute soon
        log.info("worker.run_done", tenant=tenant, pipeline=pipeline, status=summary.status)
        return {"status": str(summary.status), "counts": dict(summary.counts)}

    @app.task(name=FEATURE_TASK, bind=True, acks_late=True)  # type: ignore[untyped-decorator]
    def feature_task(self: Task, tenant: str, name: str) -> dict[str, Any]:
        runners = _runners(app)
        runners.redis.delete(queued_key(tenant, f"task:{name}"))
        with runners.use(tenant):
            enqueuer = Enqueuer(app, runners.redis)
            tasks = feature_tasks(
                lambda: runners.runner(tenant), lambda task: enqueuer.feature_task(tenant, task)
            )
            fn = tasks.fns.get(name)
            if fn is None:
                return {"status": f"no task {name}"}
            ran, _ = fenced(runners.redis, tenant, f"task:{name}", lambda _t: fn() and None, 600.0)
            return {"status": "done" if ran else "busy"}

    @signals.worker_shutting_down.connect(weak=False)  # type: ignore[untyped-decorator]
    def _stop(**_: Any) -> None:
        runners = _process.get("runners")
        if runners is not None:
            runners.stop.set()
