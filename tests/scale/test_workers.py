"""Real Celery workers (subprocesses) on real Redis run many tenants' pipelines; killed with
SIGKILL at random moments, they still end with every tenant's CRM matching its shop."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from store import make_engine
from store.models import metadata
from tests.scale.kit import MORE_PIPELINES, PIPE, Fleet, fleet

DEADLINE_S = 240


def settle(fl: Fleet, tenants: list[str], *, timeout_s: float = DEADLINE_S) -> None:
    """Wait until no run is queued or running and every tenant's shop is fully accounted for."""
    client = redis.Redis.from_url(fl.redis_url)
    waited = 0.0
    while waited < timeout_s:
        busy = client.keys("b2sync:queued:*") or client.keys("b2sync:lock:*")
        if not busy and all(fl.verdict(t)["lost"] == 0 for t in tenants):
            return
        threading.Event().wait(0.5)
        waited += 0.5
    raise AssertionError(f"not settled: {[(t, fl.verdict(t)) for t in tenants]}")


def run_with_kills(
    fl: Fleet, tenants: list[str], workers: int, kills: int, seed: int
) -> tuple[int, int]:
    """Start ``workers``, enqueue, SIGKILL a busy worker ``kills`` times at random moments
    (a fresh one takes its place); (workers killed mid-run, their runs seen redelivered)."""
    rng = random.Random(seed)
    names = [f"w{i}" for i in range(workers)]
    procs = [fl.start_worker(name) for name in names]
    fl.schedule_once()
    in_flight: set[str] = set()
    killed = 0
    for number in range(kills):
        threading.Event().wait(rng.uniform(0.3, 1.5))
        for _ in range(100):  # a worker in the middle of a run
            busy = [
                i for i, n in enumerate(names) if fl.tasks(n, "received") - fl.tasks(n, "succeeded")
            ]
            if busy:
                break
            threading.Event().wait(0.1)
        if not busy:
            continue
        victim = rng.choice(busy)
        fl.kill(procs[victim])
        killed += 1
        in_flight |= fl.tasks(names[victim], "received") - fl.tasks(names[victim], "succeeded")
        names[victim] = f"w{victim}-k{number}"
        procs[victim] = fl.start_worker(names[victim])
    settle(fl, tenants)
    logs = [p.stem for p in fl.root.glob("w*.log")]
    finished = set().union(*(fl.tasks(n, "succeeded") for n in logs))
    return killed, len(in_flight & finished)


def assert_exact(fl: Fleet, tenants: list[str]) -> None:
    for tenant in tenants:
        verdict = fl.verdict(tenant)
        assert verdict["lost"] == 0, (tenant, verdict)
        assert verdict["duplicated"] == 0, (tenant, verdict)
        assert verdict["crossed"] == 0, (tenant, verdict)
        assert verdict["wrong"] == 0, (tenant, verdict)
        assert verdict["synced"] > 0, (tenant, verdict)


def test_killed_worker_run_is_redelivered_and_resumes(tmp_path: Path, redis_url: str) -> None:
    """2 tenants, 2 workers, one SIGKILLed mid-backfill: its run comes back and completes."""
    with fleet(tmp_path, redis_url, tenants=2, customers=150, batch=20, page_size=20,
               latency_s=0.05) as fl:  # fmt: skip
        killed, redelivered = run_with_kills(fl, ["t01", "t02"], workers=2, kills=1, seed=7)
        assert killed == 1
        assert redelivered == 1, "the killed worker's run was delivered again and finished"
        assert_exact(fl, ["t01", "t02"])


@pytest.mark.slow
def test_twenty_tenants_three_workers_random_sigkills(tmp_path: Path, redis_url: str) -> None:
    """20 tenants on 3 workers, 6 SIGKILLs: every tenant's CRM exactly matches its shop."""
    tenants = [f"t{i:02d}" for i in range(1, 21)]
    with fleet(tmp_path, redis_url, tenants=20, customers=60, batch=20, page_size=20,
               latency_s=0.02) as fl:  # fmt: skip
        killed, redelivered = run_with_kills(fl, tenants, workers=3, kills=6, seed=19)
        assert killed >= 3
        assert redelivered >= 3
        assert_exact(fl, tenants)


def test_erasure_feature_task_runs_on_a_worker(tmp_path: Path, redis_url: str) -> None:
    """The scheduler enqueues each tenant's erasure task; a worker runs it under the
    tenant's task lock, once per interval (a second tick enqueues nothing)."""
    with fleet(tmp_path, redis_url, tenants=1, customers=5) as fl:
        fl.start_worker("w0")
        # the pipeline, the erasure task and the insights refresh (on by default)
        assert "3 run(s) enqueued" in fl.schedule_once()
        assert "0 run(s) enqueued" in fl.schedule_once()
        log = fl.root / "w0.log"
        for _ in range(240):
            text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
            if "b2sync.feature_task" in text and "'status': 'done'" in text:
                break
            threading.Event().wait(0.25)
        else:
            raise AssertionError(text[-3000:])


CONSENT = """
consent:
  b2connect: shop
  schedule: {every: 5m}
  hubspot:
    connection: hubspot
    api: v4
    subscriptions:
      - {channel: email, purpose: marketing, subscription_id: 101}
"""


def _feature_effects(fl: Fleet, tenant: str) -> dict[str, int]:
    """What the consent sync and the insights refresh leave in the tenant's store."""
    engine = make_engine(fl.store_urls[tenant], tenant=tenant)
    tables = metadata.tables
    customers = tables["insights_customers"]
    try:
        with engine.connect() as conn:
            count = lambda query: int(conn.execute(query).scalar_one())  # noqa: E731
            return {
                "consent_seen": count(sa.select(sa.func.count()).select_from(
                    tables["consent_system_states"])),
                "insights_fresh": count(sa.select(sa.func.count()).where(~customers.c.dirty)),
            }  # fmt: skip
    except sa.exc.OperationalError:
        return {}
    finally:
        engine.dispose()


def test_consent_and_insights_tasks_run_on_a_worker(tmp_path: Path, redis_url: str) -> None:
    """Every feature task of the single daemon is enqueued per tenant in the distributed
    mode: the tenant's consent sync (configured in its own override) and its insights refresh
    run on a worker, and their effects are in the tenant's store."""
    with fleet(tmp_path, redis_url, tenants=1, customers=15, extra=MORE_PIPELINES) as fl:
        override = fl.root / "tenants" / "t01.yaml"
        override.write_text(override.read_text(encoding="utf-8") + CONSENT, encoding="utf-8")
        fl.start_worker("w0")
        # 3 pipelines, then the feature tasks: erasure, consent, insights
        assert "6 run(s) enqueued" in fl.schedule_once()
        effects: dict[str, int] = {}
        for _ in range(480):
            effects = _feature_effects(fl, "t01")
            if effects.get("consent_seen") and effects.get("insights_fresh"):
                break  # consent decisions seen; customers recomputed (they start dirty)
            threading.Event().wait(0.25)
        else:
            raise AssertionError(effects)
        log = (fl.root / "w0.log").read_text(encoding="utf-8", errors="replace")
        assert "'status': 'done'" in log


def test_a_first_run_is_enqueued_on_the_backfill_lane(tmp_path: Path, redis_url: str) -> None:
    """The scheduler sends a pipeline no worker has finished a first run of straight to the
    ``backfill`` lane (no hop through ``scheduled``); once a worker finished one, its
    scheduled runs go to ``scheduled``."""
    with fleet(tmp_path, redis_url, tenants=1, customers=5) as fl:
        client = redis.Redis.from_url(redis_url)
        fl.schedule_once()
        assert client.llen("backfill") == 1  # the pipeline's run
        assert client.llen("scheduled") == 2  # the erasure and insights tasks
        fl.start_worker("w0")
        settle(fl, ["t01"])
        assert client.smembers("b2sync:backfilled:t01") == {PIPE.encode()}
        fl.stop_workers()
        client.delete(f"b2sync:due:t01:{PIPE}")
        fl.schedule_once()
        assert client.llen("backfill") == 0
        assert client.llen("scheduled") == 1
