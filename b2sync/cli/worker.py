"""``b2sync worker`` and ``b2sync scheduler``: the scaled-out deployment (docs/scale-out.md);
``b2sync --tenant ID <command>``: any command for one tenant of a tenants.yaml.

Both serve the tenants of ``--tenants tenants.yaml`` (or the one tenant of ``--config``) and
meet at the Redis broker of ``--broker`` (default ``$B2SYNC_BROKER_URL``). Celery and
redis-py (the ``scale`` extra) are imported only by these two commands, so the embedded
deployment does not need them.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from b2sync.cli.common import ConfigOption, exit_with_issues, fail
from b2sync.tenants import Tenants, check_stores, load_tenants, single_tenant
from mapping.config import ConfigError, config_path
from store import TENANT_ENV
from sync.logs import configure_logging

__all__ = ["commands", "select_tenant"]

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


def select_tenant(tenants: Path | None, tenant_id: str) -> Callable[[], None]:
    """``b2sync --tenant ID <command>``: every command's default config becomes the tenant's
    (base + overrides, its secrets, its state store) and every store engine the tenant's
    (``$B2SYNC_TENANT``: it sees and writes only the tenant's rows); returns how to undo it."""
    if tenants is None:
        fail("--tenant needs --tenants tenants.yaml (or $B2SYNC_TENANTS)", 2)
    try:
        tenant = load_tenants(tenants).get(tenant_id)
    except ConfigError as exc:
        exit_with_issues(tenants, exc.issues)
    except KeyError:
        known = ", ".join(load_tenants(tenants).ids())
        fail(f"unknown tenant {tenant_id!r} in {tenants}; tenants: {known}", 2)
    folder = Path(tempfile.mkdtemp(prefix="b2sync-tenant-"))
    chosen = {"B2SYNC_CONFIG": str(tenant.config_file(folder)), TENANT_ENV: tenant_id}
    previous = {name: os.environ.get(name) for name in chosen}
    os.environ.update(chosen)  # the config, and the tenant of every store engine (its rows)

    def undo() -> None:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)

    return undo


def _export(tenants: Path | None, config: Path | None, broker: str | None) -> Any:
    """Pass the choices to the worker processes (prefork children read the environment)."""
    import redis

    from b2sync.worker import WorkerSettings

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
    ] = "webhooks,scheduled,backfill",
    concurrency: Annotated[int, typer.Option("--concurrency", min=1)] = 1,
    pool: Annotated[str, typer.Option("--pool", help="prefork, threads or solo.")] = "prefork",
    hostname: Annotated[str | None, typer.Option("--name", help="Worker node name.")] = None,
    max_tenants_cached: Annotated[
        int,
        typer.Option(
            "--max-tenants-cached",
            min=1,
            envvar="B2SYNC_MAX_TENANTS_CACHED",
            help="Tenant runners (connectors, engines) each worker process keeps; the least "
            "recently used one beyond it is closed.",
        ),
    ] = 64,
) -> None:
    """Run a Celery worker: pipeline runs, webhook-driven runs and feature tasks."""
    from b2sync.worker import LANES, make_app

    _tenants(tenants, config)
    configure_logging()
    settings = _export(tenants, config, broker)
    os.environ["B2SYNC_MAX_TENANTS_CACHED"] = str(max_tenants_cached)  # for the pool's children
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
    import redis

    from b2sync.worker import Enqueuer, SchedulerLoop, make_app

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


@commands.command()
def front(
    config: ConfigOption = None,
    tenants: TenantsOption = None,
    broker: BrokerOption = None,
    listen: Annotated[
        str, typer.Option("--listen", help="host:port for webhooks, health and status.")
    ] = "127.0.0.1:8765",
) -> None:
    """Serve every tenant's webhooks at /t/<tenant>/webhooks/...: verify, store, enqueue."""
    import redis
    import uvicorn

    from b2sync.service import parse_listen
    from b2sync.worker import Enqueuer, TenantRunners, front_app, make_app

    found = _tenants(tenants, config)
    configure_logging()
    settings = _export(tenants, config, broker)
    host, port = parse_listen(listen)
    client = redis.Redis.from_url(settings.broker_url)
    app = front_app(
        TenantRunners(found, client),
        Enqueuer(make_app(settings), client),
        exposed=host not in ("127.0.0.1", "localhost", "::1"),
    )
    uvicorn.run(app, host=host, port=port, log_config=None)
