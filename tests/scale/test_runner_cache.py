"""A worker process keeps at most ``max_cached`` tenant runners: the least recently used one
beyond it is closed (its connectors' HTTP connections, its engine), none in use is."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
import redis
import sqlalchemy as sa
from typer.testing import CliRunner

from b2sync.cli import app
from b2sync.tenants import load_tenants
from b2sync.worker import TenantRunners
from tests.scale.kit import Fleet, fleet

TENANTS = [f"t{i:02d}" for i in range(1, 7)]


def _open_to(port: int) -> int:
    """This process's established TCP connections to ``port`` (the shop emulator)."""
    return sum(
        1
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def _touch(runners: TenantRunners, tenant: str) -> None:
    """What a task does with a tenant's runner: a call to its shop, a query of its store."""
    runner = runners.runner(tenant)
    assert runner.connector("shop").check() == []
    with runner.db.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


@pytest.fixture
def tenants6(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Fleet, TenantRunners]:
    with fleet(tmp_path, redis_url, tenants=len(TENANTS), customers=1) as fl:
        for name, value in fl.env().items():
            monkeypatch.setenv(name, value)
        client = redis.Redis.from_url(redis_url)
        runners = TenantRunners(load_tenants(fl.tenants_file), client, max_cached=2)
        try:
            yield fl, runners
        finally:
            runners.close()
            client.close()


def test_six_tenants_through_a_cache_of_two(tenants6: tuple[Fleet, TenantRunners]) -> None:
    """6 tenants' tasks through one process with ``max_cached=2``: 2 runners stay, 4 were
    closed, and only the cached ones still hold connections to the shop."""
    fl, runners = tenants6
    port = int(fl.shop.url.rsplit(":", 1)[1].split("/")[0])
    for tenant in TENANTS:
        with runners.use(tenant):
            _touch(runners, tenant)
    assert len(runners) == 2
    assert runners.evicted == 4
    assert 1 <= _open_to(port) <= 2, "the evicted runners' HTTP connections were closed"


def test_a_runner_in_use_is_not_evicted(tenants6: tuple[Fleet, TenantRunners]) -> None:
    """A task still running (``--pool threads``) keeps its tenant's runner open, even when
    the cache is over its cap; the runner goes once idle and least recently used."""
    _fl, runners = tenants6
    with runners.use("t01"):
        busy = runners.runner("t01")
        for tenant in TENANTS[1:]:
            with runners.use(tenant):
                _touch(runners, tenant)
        assert runners.runner("t01") is busy  # still cached, not rebuilt
        assert busy.connector("shop").check() == []
    with runners.use("t02"):
        _touch(runners, "t02")
    assert runners.runner("t06") is not None
    assert len(runners) == 2


def test_the_cap_is_a_worker_option(tmp_path: Path) -> None:
    """``b2sync worker --max-tenants-cached`` is offered and refuses a cap below one."""
    result = CliRunner().invoke(app, ["worker", "--help"], terminal_width=200)
    assert "--max-tenants-cached" in result.output
    refused = CliRunner().invoke(
        app, ["worker", "--config", str(tmp_path / "none.yaml"), "--max-tenants-cached", "0"]
    )
    assert refused.exit_code == 2
    assert "max-tenants-cached" in refused.output
