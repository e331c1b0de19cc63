"""The shared budget in the distributed mode: workers together stay under one portal's limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scale.kit import MORE_PIPELINES, fleet
from tests.scale.test_workers import settle

LIMIT = 40


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
