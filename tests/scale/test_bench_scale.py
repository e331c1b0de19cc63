"""bench/scale.py runs each tenant's three HubSpot pipelines and counts every object type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulators.seed import generate
from tests.scale.conftest import REDIS_SERVER, REDIS_SKIP

ROOT = Path(__file__).resolve().parents[2]
BENCH = [sys.executable, str(ROOT / "bench" / "scale.py")]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
    return {**env, "PYTHONPATH": str(ROOT)}


def _bounds(tenants: int, customers: int) -> tuple[int, int]:
    """Records a full sync of the tenants' customers, companies and orders puts in their
    portals: (at least: an erased shopper and their orders may be blocked, at most)."""
    low = high = 0
    for i in range(1, tenants + 1):  # the kit seeds tenant i with seed 1900 + i
        seed = generate(customers, seed=1900 + i, tenant_id=f"t{i}")
        erased = {e["subjectId"] for e in seed.erasures}
        blocked = [o for o in seed.orders if o["customerId"] in erased]
        total = len(seed.customers) + len(seed.companies) + len(seed.orders)
        high += total
        low += total - len(erased) - len(blocked)
    return low, high


def test_bench_tenants_sync_customers_companies_and_orders(tmp_path: Path) -> None:
    """Two tenants, one worker, SQLite stores: every tenant's contacts, companies and orders
    are counted (more records than shoppers), none lost, duplicated or crossed."""
    if REDIS_SERVER is None:
        pytest.skip(REDIS_SKIP)
    out = tmp_path / "scale.json"
    done = subprocess.run(
        [*BENCH, "--tenants", "2", "--workers", "1", "--customers", "6", "--latency", "0",
         "--store", "sqlite", "--backfill", "0", "--timeout", "240", "--json", str(out)],
        env=_env(), capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = json.loads(out.read_text(encoding="utf-8"))["runs"]
    low, high = _bounds(2, 6)
    assert low <= run["records"] <= high, (run, low, high)
    assert run["records"] > 2 * 6, "companies and orders are counted, not only the contacts"
    assert run["pipelines"] == "customers,companies,orders"
    assert run["lost"] == run["duplicated"] == run["crossed"] == run["http_429"] == 0, run
    assert run["records_per_s"] > 0


def test_bench_refuses_an_unknown_pipeline() -> None:
    """``--pipelines`` names shop streams of the kit: a typo exits 2 listing the choices."""
    done = subprocess.run(
        [*BENCH, "--pipelines", "customers,invoices"],
        env=_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "choose from customers, companies, orders" in done.stderr
