"""Engine throughput with in-memory connectors (no network): map, hash, reconcile, commit.

    python bench/engine.py [--records N] [--json PATH]

Prints a table and writes JSON with ``records_per_s`` (backfill) and the no-op rerun's rate.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit import KeyRing  # noqa: E402
from connectors.records import Record  # noqa: E402
from connectors.testing import FakeConnector  # noqa: E402
from mapping.config import parse_config  # noqa: E402
from store import make_engine, upgrade  # noqa: E402
from sync.hashing import FieldHasher  # noqa: E402
from sync.logs import configure_logging  # noqa: E402
from sync.push.engine import PipelineRun  # noqa: E402


class NullTarget(FakeConnector):
    """Acknowledges every write with a synthetic id and keeps nothing."""

    def write(self, stream, batch, **_options):  # type: ignore[no-untyped-def]
        from connectors.records import WriteResult

        self.calls[f"POST /objects/{stream}/batch/upsert"] += 1
        return [WriteResult.success(item.key, f"id-{item.key}", created=True) for item in batch]


def records(n: int) -> list[Record]:
    now = datetime.now(UTC)
    return [
        Record(
            "customers",
            f"c{i}",
            {
                "id": f"c{i}",
                "email": f"person{i}@example.com",
                "firstName": f"First{i}",
                "lastName": f"Last{i}",
                "language": "de",
                "billingAddress": {"city": "Berlin", "countryCode": "DE", "street1": f"Street {i}"},
            },
            now,
            tenant_id="t1",
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--audit", action="store_true", help="Record the audit trail too.")
    args = parser.parse_args()
    configure_logging(level="warning")
    cfg = parse_config((ROOT / "config.yaml").read_text())
    pipe = cfg.pipeline("customers-to-hubspot").model_copy(update={"match_key": None})
    with tempfile.TemporaryDirectory() as tmp:
        db = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(db)
        source, target = FakeConnector(page_size=1000), NullTarget()
        source.feed("customers", records(args.records))
        hasher = FieldHasher(b"b" * 32)
        keys = KeyRing(secrets.token_bytes(32)) if args.audit else None

        def run(full: bool) -> tuple[float, dict[str, int]]:
            start = time.perf_counter()
            summary = PipelineRun(pipeline=pipe, shop=source, crm=target, db=db,
                                  hasher=hasher, tenant_id="t1", full=full,
                                  audit_keys=keys, target_system="hubspot").execute()  # fmt: skip
            return time.perf_counter() - start, dict(summary.counts)

        backfill_s, backfill = run(full=False)
        noop_s, noop = run(full=True)
    result = {
        "records": args.records,
        "audit": args.audit,
        "records_per_s": round(args.records / backfill_s),
        "noop_records_per_s": round(args.records / noop_s),
        "backfill_seconds": round(backfill_s, 2),
        "noop_seconds": round(noop_s, 2),
        "written": backfill.get("written", 0),
        "noop_written": noop.get("written", 0),
    }
    print(f"{'metric':<22}{'value':>14}")
    for key, value in result.items():
        print(f"{key:<22}{value:>14}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
