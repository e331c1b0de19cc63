"""``b2sync worker`` and ``b2sync scheduler``: the scaled-out deployment (docs/scale-out.md).

Both serve the tenants of ``--tenants tenants.yaml`` (or the one tenant of ``--config``) and
meet at the Redis broker of ``--broker`` (default ``$B2SYNC_BROKER_URL``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated, Any

import redis
import typer

from b2sync.cli.common import ConfigOption, exit_with_issues, fail
from b2sync.tenants import Tenants, check_stores, load_tenants, single_tenant
from b2sync.worker import LANES, Enqueuer, SchedulerLoop, WorkerSettings, make_app
from mapping.config import ConfigError, config_path
from sync.logs import configure_logging

__all__ = ["commands"]

#: top-level commands of this module (``worker``, ``scheduler``)
commands = typer.Typer()

TenantsOption = Annotated[
    Path | None,
    typer.Option("--tenants", help="tenants.yaml: the tenants this deployment serves."),
]
BrokerOption = Annotated[
    str | None,
    typer.Option("--broker", help="Redis URL (default: $B2SYNC_BROKER_URL)."),
]


def _tenants(tenants: Path | None, config: Path | None) -> Tenants:
    """The tenants, each config checked (exit 2 with file:line on a problem)."""
    path = tenants or config_path(config)
    try:
        found = load_tenants(tenants) if tenants else single_tenant(path)
        check_stores(found)
    except ConfigError as exc:
        exit_with_issues(path, exc.issues)
    return found


def _export(tenants: Path | None, config: Path | None, broker: str | None) -> WorkerSettings:
    """Pass the choices to the worker processes (prefork children read the environment)."""
    if tenants:
        os.environ["B2SYNC_TENANTS"] = str(tenants.resolve())
    else:
        os.environ["B2SYNC_CONFIG"] = str(config_path(config).resolve())
    settings = WorkerSettings.from_env(broker)
    os.environ["B2SYNC_BROKER_URL"] = settings.broker_url
    try:
        redis.Redis.from_url(settings.broker_url).ping()
    except redis.RedisError as exc:
        fail(f"the broker at {settings.broker_url} cannot be reached ({type(exc).__name__}); "
             "start Redis or pass --broker", 2)  # fmt: skip
    return settings


@commands.command()
def worker(
    config: ConfigOption = None,
    tenants: TenantsOption = None,
    broker: BrokerOption = None,
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="Lanes to consume, highest priority first.")
    ] = ",".join(LANES),
    concurrency: Annotated[int, typer.Option("--concurrency", min=1)] = 1,
    pool: Annotated[str, typer.Option("--pool", help="prefork, threads or solo.")] = "prefork",
    hostname: Annotated[str | None, typer.Option("--name", help="Worker node name.")] = None,
) -> None:
    """Run a Celery worker: pipeline runs, webhook-driven runs and feature tasks."""
    _tenants(tenants, config)
    configure_logging()
    settings = _export(tenants, config, broker)
    app = make_app(settings)
    unknown = set(queues.split(",")) - set(LANES)
    if unknown:
        fail(f"unknown lane(s) {', '.join(sorted(unknown))}; lanes: {', '.join(LANES)}", 2)
    argv = ["worker", "-Q", queues, "--concurrency", str(concurrency), "--pool", pool,
            "--prefetch-multiplier", "1", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel", "INFO"]  # fmt: skip
    if hostname:
        argv += ["--hostname", hostname]
    app.worker_main(argv)


@commands.command()
def scheduler(
    config: ConfigOption = None,
    tenants: TenantsOption = None,
    broker: BrokerOption = None,
    once: Annotated[bool, typer.Option("--once", help="Enqueue what is due, then exit.")] = False,
) -> None:
    """Enqueue every tenant's due runs (one queued run per tenant and pipeline)."""
    found = _tenants(tenants, config)
    configure_logging()
    settings = _export(tenants, config, broker)
    app = make_app(settings)
    loop = SchedulerLoop(found, Enqueuer(app, redis.Redis.from_url(settings.broker_url)))
    if once:
        typer.echo(f"b2sync: {loop.tick()} run(s) enqueued")
        return

    def stop(*_: Any) -> None:
        loop.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    loop.run_forever()
