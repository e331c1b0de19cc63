"""Audit trail benchmarks on SQLite: subject search among many events, append throughput.

    python bench/audit.py [--events 1000000] [--batches 10] [--json PATH]

(a) Builds ``--events`` filler events with fast bulk inserts (one other tenant, random
subjects), appends 20 real events of one person with ``record_events``, and times
``search(subject=...)``: keyed hash → ``subject_hash`` index → decrypt only the answer.
(b) Times ``record_events`` on batches of 2,000 events (8 subjects per 100 events, values
encrypted, chained), each in its own IMMEDIATE transaction, and reports events/s.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from audit import AuditEvent, Filters, KeyRing, events_table, record_events, search  # noqa: E402
from store import make_engine, upgrade  # noqa: E402

BATCH = 2000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TARGET = "needle@example.com"


def _event(i: int, subject: str, tenant: str = "shop") -> AuditEvent:
    return AuditEvent(
        actor="customers-to-hubspot",
        tenant_id=tenant,
        action="crm.write",
        source_system="b2connect",
        target_system="hubspot",
        stream="customers",
        record_key=f"C-{i}",
        subject=subject,
        changed_fields=["email", "firstName", "phone"],
        run_id="bench-run",
        batch_id=f"b-{i // BATCH}",
        values={
            "email": {"old": None, "new": subject},
            "firstName": {"old": "A", "new": f"Name {i}"},
            "phone": {"old": None, "new": "+4930123456"},
        },
        occurred_at=T0 + timedelta(seconds=i),
    )


def _fill(engine: sa.Engine, count: int) -> float:
    """Insert ``count`` filler rows straight through the DB-API (chain not computed)."""
    started = time.perf_counter()
    payload = secrets.token_bytes(160)
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        cursor = raw.cursor()
        chunk = 50_000
        for start in range(0, count, chunk):
            rows = [
                (
                    "filler",
                    i + 1,
                    (T0 + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f"),
                    "customers-to-hubspot",
                    "b2connect",
                    "hubspot",
                    "customers",
                    secrets.token_hex(32),
                    secrets.token_hex(32),
                    "crm.write",
                    '["email","firstName"]',
                    "ok",
                    "bench-run",
                    None,
                    None,
                    payload,
                    secrets.token_hex(32),
                    secrets.token_hex(32),
                    secrets.token_hex(32),
                )
                for i in range(start, min(start + chunk, count))
            ]
            cursor.executemany(
                "INSERT INTO audit_events (tenant_id, seq, occurred_at, actor, source_system,"
                " target_system, stream, record_key_hash, subject_hash, action, changed_fields,"
                " outcome, run_id, batch_id, details, payload_ciphertext, key_id, prev_hash, hash,"
                " b2sync_tenant) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'default')",
                rows,
            )
    return time.perf_counter() - started


def bench_search(directory: Path, events: int) -> dict[str, Any]:
    """Search one subject among ``events`` filler events plus its own 20."""
    engine = make_engine(f"sqlite:///{directory / 'search.db'}")
    upgrade(engine)
    master = secrets.token_bytes(32)
    keys = KeyRing(master)
    fill_s = _fill(engine, events)
    immediate = engine.execution_options(b2sync_begin_immediate=True)
    with immediate.begin() as conn:
        record_events(conn, [_event(i, TARGET) for i in range(20)], keys=keys)
    cold = KeyRing(master)  # as in a fresh process: no data key cached yet
    started = time.perf_counter()
    with engine.connect() as conn:
        found = search(conn, cold, Filters(subject=TARGET))
    search_s = time.perf_counter() - started
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one()
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM audit_events WHERE subject_hash = 'x'"
        ).all()
    engine.dispose()
    assert len(found) == 20 and found[0].values is not None
    return {
        "events_in_table": total,
        "fill_s": round(fill_s, 2),
        "search_s": round(search_s, 4),
        "found": len(found),
        "plan": " | ".join(str(row[-1]) for row in plan),
    }


def bench_append(directory: Path, batches: int) -> dict[str, Any]:
    """record_events throughput on batches of 2,000 events."""
    engine = make_engine(f"sqlite:///{directory / 'append.db'}")
    upgrade(engine)
    keys = KeyRing(secrets.token_bytes(32))
    immediate = engine.execution_options(b2sync_begin_immediate=True)
    subjects = [f"person{n}@example.com" for n in range(batches * BATCH // 12 + 1)]
    started = time.perf_counter()
    for b in range(batches):
        batch = [_event(b * BATCH + i, subjects[(b * BATCH + i) // 12]) for i in range(BATCH)]
        with immediate.begin() as conn:
            record_events(conn, batch, keys=keys)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return {
        "batches": batches,
        "batch_size": BATCH,
        "seconds": round(elapsed, 2),
        "events_per_s": round(batches * BATCH / elapsed),
    }


def main() -> None:
    """Run both benchmarks, print a table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="b2sync-bench-audit-") as tmp:
        search_result = bench_search(Path(tmp), args.events)
        append_result = bench_append(Path(tmp), args.batches)
    rows = [
        ("events in table", f"{search_result['events_in_table']:,}"),
        ("bulk fill (s)", f"{search_result['fill_s']}"),
        ("search one subject (s)", f"{search_result['search_s']}  (target < 1 s)"),
        ("events found / decrypted", f"{search_result['found']}"),
        ("query plan", search_result["plan"]),
        ("record_events batch", f"{append_result['batch_size']:,} × {append_result['batches']}"),
        ("record_events (events/s)", f"{append_result['events_per_s']:,}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if args.json:
        result = {"search": search_result, "append": append_result, "cpus": os.cpu_count()}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
