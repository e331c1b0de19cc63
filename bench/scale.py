"""Scale-out benchmark: tenant-records synced per second by W Celery workers for T tenants.

    python bench/scale.py [--tenants 10,50] [--workers 1,2,4] [--customers 40]
                          [--pipelines customers,companies,orders] [--latency 0.15] [--json PATH]

For every combination (T tenants × W workers) it starts fresh emulators in this process (one
multi-tenant B2Connect, one HubSpot portal per tenant, every HubSpot call delayed by
``--latency`` seconds as over the internet), writes a tenants.yaml (shared base config, per-
tenant overrides, per-tenant secrets in the environment, each tenant's own state store: a
PostgreSQL schema, or a SQLite file with ``--store sqlite``), starts W ``b2sync worker``
processes on Redis, enqueues every tenant's backfill with the scheduler's tick and
waits until every tenant's HubSpot portal holds its shop's records (or their dead letters).
Each tenant runs the HubSpot pipelines of ``--pipelines`` (default: customers, companies and
orders, as a real tenant does: three runs per tenant for the workers to share; ``--pipelines
customers`` is the one-pipeline bench); the records synced are the contacts, companies and
orders in the portals.
The tenants' stores are migrated before the clock starts (tenants are onboarded once; the
benchmark measures syncing). Each run also reports where the CPU went (the workers, this
process with the emulators, PostgreSQL, the whole machine, in cores) and the load average:
on shared cores the speed-up is capped by the CPU the workers can get.
It prints a table and writes ``{"runs": [{"tenants", "workers", "records_per_s", "http_429",
"lost", "duplicated"}, ...]}``.

Redis and PostgreSQL: started here (throw-away, 127.0.0.1, free ports) when the binaries are
installed; otherwise the script says how to install them (``apt-get install redis-server
postgresql``) and exits 2. ``B2SYNC_TEST_POSTGRES_URL`` uses a running PostgreSQL instead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from store import make_engine, upgrade  # noqa: E402
from tests.scale.conftest import start_redis  # noqa: E402
from tests.scale.kit import STREAMS, fleet  # noqa: E402
from tests.scale.test_workers import settle  # noqa: E402

#: the folder of the PostgreSQL cluster this script started (for its CPU accounting)
PG_DIR: list[Path] = []
INSTALL = "install them with: apt-get install redis-server postgresql (Debian/Ubuntu)"


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of process ``pid``, its live descendants and the children
    it reaped; 0 when it is gone."""
    if pid is None:
        return 0.0
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _own_cpu() -> float:
    """This process's CPU seconds (the emulators' threads and the polling; not the workers,
    its children)."""
    t = os.times()
    return t.user + t.system


class CpuMeter:
    """Where the CPU went during a run: the workers, this process (the emulators and the
    polling), PostgreSQL, and the whole machine (other users of the cores included)."""

    def __init__(self, workers: list[int], postgres: int | None) -> None:
        import psutil

        self.workers, self.postgres = workers, postgres
        self._machine = psutil.cpu_times()
        self._self = _own_cpu()
        self._pg = _tree_cpu(postgres)
        self._workers = sum(_tree_cpu(pid) for pid in workers)
        self._started = time.monotonic()

    def read(self) -> dict[str, Any]:
        import psutil

        elapsed = time.monotonic() - self._started
        now = psutil.cpu_times()
        busy = sum(getattr(now, f) - getattr(self._machine, f) for f in now._fields
                   if f not in ("idle", "iowait"))  # fmt: skip
        cores = psutil.cpu_count() or 1

        def share(seconds: float) -> float:
            return round(seconds / elapsed, 2)  # cores' worth

        return {
            "cpu_workers": share(sum(_tree_cpu(pid) for pid in self.workers) - self._workers),
            "cpu_emulators_and_bench": share(_own_cpu() - self._self),
            "cpu_postgres": share(_tree_cpu(self.postgres) - self._pg),
            "cpu_machine": share(busy),
            "cores": cores,
            "load_avg_1m": round(os.getloadavg()[0], 1),
        }


def _postmaster_pid(pg_dir: Path | None) -> int | None:
    pid_file = (pg_dir / "data" / "postmaster.pid") if pg_dir else None
    if pid_file is None or not pid_file.exists():
        return None
    return int(pid_file.read_text(encoding="utf-8").split()[0])


def start_postgres(folder: Path) -> tuple[str, Callable[[], None]]:
    """A PostgreSQL URL and how to stop it: $B2SYNC_TEST_POSTGRES_URL, else a private
    cluster started with .ci/postgres.sh on its own port and folder."""
    given = os.environ.get("B2SYNC_TEST_POSTGRES_URL")
    if given:
        return given, lambda: None
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or os.geteuid() != 0:
        raise SystemExit(f"bench/scale.py: PostgreSQL is not available; {INSTALL} "
                         "(or set B2SYNC_TEST_POSTGRES_URL, or pass --store sqlite)")  # fmt: skip
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # its own port and folder (readable by the postgres user), never a shared cluster's
    del folder
    pg_dir = Path(tempfile.gettempdir()) / f"b2sync-scale-pg-{os.getpid()}"
    PG_DIR.append(pg_dir)
    env = {**os.environ, "B2SYNC_PG_PORT": str(port), "B2SYNC_PG_DIR": str(pg_dir)}
    done = subprocess.run(["bash", str(ROOT / ".ci/postgres.sh")], env=env, check=False,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"bench/scale.py: PostgreSQL did not start:\n{done.stderr[-2000:]}")
    url = done.stdout.strip().splitlines()[-1].split("=", 1)[1]

    def stop() -> None:
        subprocess.run(["bash", str(ROOT / ".ci/postgres.sh"), "stop"], env=env,
                       capture_output=True, check=False)  # fmt: skip

    return url, stop


def schema_urls(pg_url: str) -> Callable[[str], str]:
    """Each tenant its own schema in one database (created here)."""
    engine = make_engine(pg_url)
    run = uuid.uuid4().hex[:6]
    url = sa.make_url(pg_url)

    def for_tenant(tenant: str) -> str:
        schema = f"b_{run}_{uuid.uuid4().hex[:6]}_{tenant}"
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )

    return for_tenant


def _scheduler(fl: Any) -> Callable[[], int]:
    """The scheduler's tick (what ``b2sync scheduler`` runs every few seconds), built in this
    process before the clock starts: a deployment's scheduler is a long-running process, so
    its start-up (imports, reading tenants.yaml) is not part of any run. The tenants' secrets
    come from the environment, as the scheduler's process gets them."""
    import redis

    from b2sync.tenants import load_tenants
    from b2sync.worker import Enqueuer, SchedulerLoop, WorkerSettings, make_app

    os.environ.update(fl.env())
    settings = WorkerSettings.from_env(fl.redis_url)
    client = redis.Redis.from_url(settings.broker_url)
    return SchedulerLoop(load_tenants(fl.tenants_file), Enqueuer(make_app(settings), client)).tick


def measure(root: Path, redis_url: str, tenants: int, workers: int, args: Any,
            store_url: Callable[[str], str] | None) -> dict[str, Any]:  # fmt: skip
    root.mkdir(parents=True)
    import redis

    redis.Redis.from_url(redis_url).flushall()
    ids = [f"t{i:02d}" for i in range(1, tenants + 1)]
    with fleet(root, redis_url, tenants, args.customers, batch=20, page_size=20,
               latency_s=args.latency, store_url=store_url, streams=args.streams) as fl:  # fmt: skip
        for tenant, url in fl.store_urls.items():  # tenants are onboarded before (not measured)
            engine = make_engine(url, tenant=tenant)  # a SQLite file records its one tenant
            upgrade(engine)
            engine.dispose()
        procs = [fl.start_worker(f"w{i}") for i in range(workers)]
        for i in range(workers):  # the workers boot and connect (not measured)
            fl.wait_ready(f"w{i}")
        meter = CpuMeter([p.pid for p in procs], _postmaster_pid(args.pg_dir))
        tick = _scheduler(fl)  # a deployment's scheduler is up before the runs it enqueues
        started = time.monotonic()
        enqueued = tick()
        scheduled = time.monotonic() - started
        settle(fl, ids, timeout_s=args.timeout)
        elapsed = time.monotonic() - started
        cpu = meter.read()
        verdicts = [fl.verdict(t) for t in ids]
        synced = sum(v["synced"] for v in verdicts)
        return {
            "tenants": tenants,
            "workers": workers,
            "records_per_s": round(synced / elapsed, 1),
            "http_429": sum(p.rejected_429 for p in fl.portals.values()),
            "lost": sum(v["lost"] for v in verdicts),
            "duplicated": sum(v["duplicated"] for v in verdicts),
            "crossed": sum(v["crossed"] for v in verdicts),
            "pipelines": ",".join(args.streams),
            "records": synced,
            "seconds": round(elapsed, 1),
            "scheduler_s": round(scheduled, 1),
            "enqueued": enqueued,
            **cpu,
        }


def webhook_latency(folder: Path, redis_url: str, args: Any, edits: int = 10) -> dict[str, Any]:
    """p95 from a small tenant's shop edit (then enqueued on the webhooks lane, as the HTTP
    front does after storing the delivery) to the change in its portal, while a large
    tenant backfills on the other worker's ``backfill`` lane."""
    import redis

    from b2sync.worker import Enqueuer, WorkerSettings, make_app
    from emulators.seed import generate
    from tests.scale.kit import PIPE

    root = folder / "latency"
    root.mkdir()
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    with fleet(root, redis_url, 2, 20, batch=20, page_size=20, latency_s=args.latency) as fl:
        fl.shop.load(generate(args.backfill, seed=4242, tenant_id=fl.guids["t01"]))
        for i in range(2):
            fl.start_worker(f"w{i}")
        enqueuer = Enqueuer(make_app(WorkerSettings(redis_url)), client)
        enqueuer.run("t02", PIPE)
        settle(fl, ["t02"], timeout_s=args.timeout)
        enqueuer.run("t01", PIPE)
        while not client.keys("b2sync:lock:t01:*"):
            time.sleep(0.05)
        small = sorted(fl.shop_customers("t02"))
        seen = {k for k, v in fl.crm_contacts("t02").items() if v}
        keys = [k for k in small if k in seen][:edits]
        latencies = []
        for i, key in enumerate(keys):
            value = f"Edit{i}x"
            fl.shop.admin_patch("customers", key, {"firstName": value})
            started = time.monotonic()
            enqueuer.mark_due("t02", PIPE)
            while True:
                contact = fl.crm_contacts("t02").get(key, [{}])[0]
                if contact.get("properties", {}).get("firstname") == value:
                    break
                time.sleep(0.02)
            latencies.append(time.monotonic() - started)
        backfilling = bool(client.keys("b2sync:lock:t01:*"))
        latencies.sort()
        p95 = latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)]
        return {"edits": len(latencies), "p50_s": round(latencies[len(latencies) // 2], 2),
                "p95_s": round(p95, 2), "max_s": round(latencies[-1], 2),
                "large_tenant_still_backfilling": backfilling}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", default="10,50")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--customers", type=int, default=40, help="shoppers per tenant")
    parser.add_argument("--pipelines", default=",".join(STREAMS),
                        help="each tenant's HubSpot pipelines, by shop stream")  # fmt: skip
    parser.add_argument("--latency", type=float, default=0.15, help="seconds per HubSpot call")
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--backfill", type=int, default=2000,
                        help="customers of the large tenant in the latency run (0: skip it)")  # fmt: skip
    args = parser.parse_args()
    args.streams = [name.strip() for name in args.pipelines.split(",") if name.strip()]
    unknown = sorted(set(args.streams) - set(STREAMS)) or not args.streams
    if unknown:
        parser.error(f"--pipelines: choose from {', '.join(STREAMS)} (got {args.pipelines!r})")
    if shutil.which("redis-server") is None:
        print(f"bench/scale.py: redis-server is not installed; {INSTALL}", file=sys.stderr)
        return 2
    runs = []
    latency = None
    with tempfile.TemporaryDirectory(prefix="b2sync-scale-") as tmp:
        folder = Path(tmp)
        redis_proc, redis_url = start_redis(folder)
        stop_pg: Callable[[], None] = lambda: None  # noqa: E731
        try:
            store_url = None
            if args.store == "postgres":
                pg_url, stop_pg = start_postgres(folder)
                store_url = schema_urls(pg_url)
            latency = webhook_latency(folder, redis_url, args) if args.backfill else None
            if latency is not None:
                print(json.dumps({"webhook_latency": latency}), flush=True)
            args.pg_dir = PG_DIR[0] if PG_DIR else None
            for tenants in _ints(args.tenants):
                for workers in _ints(args.workers):
                    root = folder / f"t{tenants}-w{workers}"
                    run = measure(root, redis_url, tenants, workers, args, store_url)
                    runs.append(run)
                    print(json.dumps(run), flush=True)
        finally:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
            stop_pg()
    print(
        "\n| tenants | workers | records/s | speed-up | HTTP 429 | lost | duplicated "
        "| CPU workers | CPU emulators | CPU PostgreSQL | CPU machine | load |"
    )
    print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for run in runs:
        base = next(r for r in runs if r["tenants"] == run["tenants"])
        speed = run["records_per_s"] / base["records_per_s"] if base["records_per_s"] else 0
        print(f"| {run['tenants']} | {run['workers']} | {run['records_per_s']} | "
              f"{speed:.2f}× | {run['http_429']} | {run['lost']} | {run['duplicated']} | "
              f"{run['cpu_workers']} | {run['cpu_emulators_and_bench']} | "
              f"{run['cpu_postgres']} | {run['cpu_machine']} | {run['load_avg_1m']} |")  # fmt: skip
    if args.json:
        report = {"runs": runs, "webhook_latency": latency}
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
