"""Salesforce writes under latency: sObject Collections (serial, parallel) against Bulk API 2.0.

    python bench/salesforce_bulk.py [--sizes 1000,5000,20000] [--salesforce-ms MS]
                                    [--concurrency C] [--json PATH]

The emulators run in their own process with every Salesforce call taking ``--salesforce-ms``
(default 500). For each size N, N new Contacts are upserted on the external id field through
the real connector (simple-salesforce over loopback), once per path:

- ``collections_serial``: 200 per call, one call at a time (the connector's write of one
  batch below the bulk threshold);
- ``collections_parallel``: the same calls, ``C`` in flight (the batch split into 200-record
  writes on a pool of ``C`` threads sharing one connector and its budget, as an engine with
  a per-connection pool sends them);
- ``bulk``: one Bulk API 2.0 job through the connector (create, upload, close, polls backing
  off from 0.2 s, the result sets that have rows);
- ``bulk_sdk``: the job as simple-salesforce's ``upsert(wait=1)`` runs it, plus the three
  result reads (what the connector did before).

It prints wall seconds and calls per path and writes them as JSON. The emulator finishes a
job on its second poll whatever its size; a real org queues and processes a job for seconds
to minutes, so the Bulk figures are a lower bound.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.backfill import (  # noqa: E402
    config_text,
    read_env,
    start_emulators,
    stop_emulators,
)
from connectors.budget import AdaptiveConcurrency  # noqa: E402
from connectors.records import WriteItem  # noqa: E402
from connectors.salesforce import SalesforceConnector  # noqa: E402
from mapping.config import SalesforceConnection, parse_config  # noqa: E402
from sync.logs import configure_logging  # noqa: E402
from sync.settings import resolve  # noqa: E402

PATHS = ("collections_serial", "collections_parallel", "bulk", "bulk_sdk")
ID_FIELD = "B2Connect_Id__c"
NEVER = 10**9


def contacts(n: int, prefix: str) -> list[WriteItem]:
    return [
        WriteItem(
            key=f"{prefix}-{i}",
            payload={"LastName": f"Bench {i}", "Email": f"{prefix}-{i}@example.org"},
        )
        for i in range(n)
    ]


def _write(conn: SalesforceConnector, path: str, items: list[WriteItem], pool: int) -> int:
    """Write ``items`` along ``path``; the number of records that failed."""
    if path == "bulk_sdk":
        return _bulk_sdk(conn, items)
    conn.bulk_threshold = 1 if path == "bulk" else NEVER
    if path != "collections_parallel":
        return sum(1 for r in conn.write("Contact", items) if not r.ok)
    parts = [items[i : i + 200] for i in range(0, len(items), 200)]
    with ThreadPoolExecutor(pool) as executor:
        done = executor.map(lambda part: conn.write("Contact", part), parts)
        return sum(1 for results in done for r in results if not r.ok)


def _bulk_sdk(conn: SalesforceConnector, items: list[WriteItem]) -> int:
    records = [{ID_FIELD: i.key, **{k: str(v) for k, v in i.payload.items()}} for i in items]

    def run(sf: Any) -> int:
        handler = sf.bulk2.Contact
        jobs = handler.upsert(records=records, external_id_field=ID_FIELD, wait=1)
        for job in jobs:
            for read in (
                handler.get_successful_records,
                handler.get_failed_records,
                handler.get_unprocessed_records,
            ):
                read(str(job["job_id"]))
        return sum(int(job["numberRecordsFailed"]) for job in jobs)

    return int(conn.api.call(run))


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    options = {
        "salesforce_kwargs": {"daily_limit": 10**7},
        "latency": {"salesforce": args.salesforce_ms},
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "env"
        proc = start_emulators(10, env_file, options)
        try:
            os.environ.update(read_env(env_file))
            config = parse_config(config_text(tmp)).connections["salesforce"]
            assert isinstance(config, SalesforceConnection)
            # the connector itself: the runner's wrapper holds the connection's lock per call
            conn = SalesforceConnector.from_config(config, secrets=resolve)
            try:
                conn.budget.concurrency = AdaptiveConcurrency(
                    args.concurrency, maximum=args.concurrency
                )
                for size in args.sizes:
                    for path in PATHS:
                        before = sum(conn.calls.values())
                        items = contacts(size, f"{path}-{size}")
                        started = time.perf_counter()
                        failed = _write(conn, path, items, args.concurrency)
                        wall = time.perf_counter() - started
                        rows.append(
                            {
                                "records": size,
                                "path": path,
                                "wall_s": round(wall, 2),
                                "calls": sum(conn.calls.values()) - before,
                                "failed": failed,
                            }
                        )
                        print(rows[-1], flush=True)
            finally:
                conn.close()
        finally:
            stop_emulators(proc)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 5000, 20000]
    )
    parser.add_argument("--salesforce-ms", type=float, default=500.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    configure_logging(level="error")
    os.environ.setdefault("B2SYNC_MASTER_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    rows = measure(args)
    print(f"\nSalesforce calls at {args.salesforce_ms:.0f} ms, pool of {args.concurrency}")
    print(f"{'records':>8}  " + "  ".join(f"{p:>22}" for p in PATHS))
    for size in args.sizes:
        cells = [next(r for r in rows if r["records"] == size and r["path"] == p) for p in PATHS]
        print(
            f"{size:>8}  " + "  ".join(f"{c['wall_s']:>9} s {c['calls']:>4} calls" for c in cells)
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
