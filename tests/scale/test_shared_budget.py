"""The shared budget in the distributed mode: workers together stay under one portal's limit.

The window test checks that the portal answers no 429; per-process governors, which read the
portal-wide ``Remaining`` header, mostly manage that too. The daily-share test is the one a
per-process budget fails: fresh workers know nothing of the day's spending until their first
answer, and each spends a call (or a few) past the share.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from emulators.seed import generate
from tests.scale.kit import MORE_PIPELINES, PIPE, fleet
from tests.scale.test_workers import settle

LIMIT = 40
#: the portal's daily limit in the daily-share test; b2sync's share (``daily_share: 0.5``)
DAILY = 120
SHARE = DAILY // 2
PIPELINES = (PIPE, "companies-to-hubspot", "orders-to-hubspot")


@pytest.mark.slow
def test_three_workers_on_one_tenant_meet_no_429(tmp_path: Path, redis_url: str) -> None:
    """3 workers run a tenant's 3 pipelines at once against a portal allowing 40 calls per
    10 s: together they need several windows, and the portal answers no 429."""
    with fleet(tmp_path, redis_url, tenants=1, customers=200, batch=5, page_size=5,
               rate_limit_per_10s=LIMIT, extra=MORE_PIPELINES, latency_s=0.1) as fl:  # fmt: skip
        for i in range(3):
            fl.start_worker(f"w{i}")
        fl.schedule_once()
        settle(fl, ["t01"], timeout_s=300)
        portal = fl.portals["t01"]
        calls = sum(portal.calls.values())
        assert calls > 2 * LIMIT, "the work needed more than two windows' worth of calls"
        assert portal.rejected_429 == 0
        busy = [n for n in ("w0", "w1", "w2") if fl.tasks(n, "succeeded")]
        assert len(busy) >= 2, "the runs were spread over the workers"
        assert fl.verdict("t01")["lost"] == 0


def test_three_workers_respect_a_tenants_daily_share(tmp_path: Path, redis_url: str) -> None:
    """A tenant's daily share is counted across its workers: 3 workers run its 3 pipelines
    until the share is spent, then 3 fresh workers (a deploy) try again the same day. The
    portal counts b2sync's calls: never more than the share, and every run that met the
    spent share ended ``paused`` saying why and when it resumes."""
    with fleet(tmp_path, redis_url, tenants=1, customers=120, batch=5, page_size=5,
               extra=MORE_PIPELINES, latency_s=0.05, daily_limit=DAILY) as fl:  # fmt: skip
        portal = fl.portals["t01"]
        for round_ in range(2):
            for i in range(3):
                fl.start_worker(f"r{round_}w{i}")
            fl.schedule_once()
            fl.until_ran("t01", PIPELINES)
            fl.stop_workers()
            used = portal.limits.usage(portal.token)["daily_used"]
            assert used <= SHARE, f"round {round_}: {used} calls, the share is {SHARE}"
            redis.Redis.from_url(redis_url).delete(*[f"b2sync:due:t01:{p}" for p in PIPELINES])
            # the next day's work of every pipeline arrives before the deploy
            fl.shop.load(generate(20, seed=2900 + round_, tenant_id=fl.guids["t01"]))
        latest = fl.latest_runs("t01")
    paused = {p: e for p, (status, e) in latest.items() if status == "paused"}
    assert set(paused) == set(PIPELINES), latest
    assert all("share (50%)" in e and "resumes at" in e for e in paused.values()), paused
