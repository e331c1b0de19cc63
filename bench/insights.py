"""Insights benchmark: the ledger and the refresh pass at shop scale, on SQLite.

    python bench/insights.py [--customers 100000] [--orders 1000000] [--json PATH]

Fills a fresh store's order ledger through the orders hook's own path (``upsert_orders`` in
flushes of 2,000, as the engine hands them over), then measures:

- **full**: every customer recomputed (SQL aggregate over the ledger, population quintiles,
  RFM/stage/VIP/segments/lead/loyalty per customer, snapshots written); target < 30 s;
- with email engagement read back for a fifth of the customers (three days each);
- **incremental**: 1 % of the customers get a new order, then only those are recomputed
  against the stored quintiles; target < 2 s.

No CRM is involved (the push compares hashes and writes only changed fields; its cost is the
CRM's). Orders are random but seeded: 1-3 currencies, 3 % cancelled, 4 % with refunds.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from insights.ledger import upsert_orders  # noqa: E402
from insights.orders import OrderFact  # noqa: E402
from insights.refresh import InsightsRefresh  # noqa: E402
from mapping.config import Config, InsightsConfig  # noqa: E402
from store import make_engine, upgrade  # noqa: E402
from sync.hashing import FieldHasher  # noqa: E402
from sync.logs import configure_logging  # noqa: E402

TENANT = "bench-tenant"
FLUSH = 2000
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CURRENCIES = ("EUR", "EUR", "EUR", "USD", "GBP")


def orders(customers: int, count: int, rng: random.Random, start: int = 0) -> list[OrderFact]:
    """``count`` orders spread over ``customers`` customers and the last three years."""
    out: list[OrderFact] = []
    for n in range(start, start + count):
        total = Decimal(rng.randint(500, 60_000)) / 100
        status = "cancelled" if rng.random() < 0.03 else "delivered"
        refunded = total / 2 if rng.random() < 0.04 else Decimal(0)
        out.append(
            OrderFact(
                order_id=f"o{n:08d}",
                customer_id=f"c{rng.randrange(customers):07d}",
                created_at=NOW - timedelta(minutes=rng.randrange(3 * 365 * 24 * 60)),
                status=status,
                currency=rng.choice(CURRENCIES),
                total=total,
                refunded=refunded,
            )
        )
    return out


def ingest(db: Any, facts: list[OrderFact]) -> float:
    began = time.perf_counter()
    for i in range(0, len(facts), FLUSH):
        with db.begin() as conn:
            upsert_orders(conn, TENANT, facts[i : i + FLUSH], NOW)
    return time.perf_counter() - began


def engagement(db: Any, customers: int, rng: random.Random) -> int:
    """Email engagement read back for a fifth of the customers (three days each, last 60 days),
    written straight to the tables: the refresh reads it for the lead score."""
    from insights.engagement import ENGAGEMENT, TOTALS

    days: list[dict[str, Any]] = []
    totals: list[dict[str, Any]] = []
    for n in range(0, customers, 5):
        key = f"c{n:07d}"
        picked = sorted(rng.sample(range(60), 3))
        for ago in picked:
            day = (NOW - timedelta(days=ago)).date()
            days.append(
                {
                    "tenant_id": TENANT,
                    "customer_key": key,
                    "day": day,
                    "opens": rng.randint(0, 3),
                    "clicks": rng.randint(0, 1),
                    "delivered": 1,
                }
            )
        last = NOW - timedelta(days=picked[0])
        totals.append({"tenant_id": TENANT, "customer_key": key, "source": "hubspot",
                       "opens": 9, "clicks": 2, "delivered": 20, "last_open_at": last,
                       "last_click_at": None, "read_at": NOW})  # fmt: skip
    with db.begin() as conn:
        conn.execute(ENGAGEMENT.insert(), days)
        conn.execute(TOTALS.insert(), totals)
    return len(days)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    configure_logging(level="error")
    rng = random.Random(42)
    settings = InsightsConfig(rates={"USD": Decimal("0.92"), "GBP": Decimal("1.17")})
    config = Config(connections={}, insights=settings)
    with tempfile.TemporaryDirectory() as tmp:
        db = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(db)
        facts = orders(args.customers, args.orders, rng)
        ingest_s = ingest(db, facts)
        engagement_rows = engagement(db, args.customers, rng)
        clock = iter([NOW, NOW + timedelta(minutes=5)])
        refresh = InsightsRefresh(
            config=config,
            db=db,
            hasher=FieldHasher(b"b" * 32),
            connector=lambda name: (_ for _ in ()).throw(LookupError(name)),
            tenant_of=lambda pipe: TENANT,
            clock=lambda: next(clock),
        )
        began = time.perf_counter()
        [full] = refresh.run(full=True, tenants=[TENANT])
        full_s = time.perf_counter() - began
        changed = max(1, args.customers // 100)
        new = [
            OrderFact(
                order_id=f"n{n:08d}",
                customer_id=f"c{n * (args.customers // changed):07d}",
                created_at=NOW,
                status="confirmed",
                currency="EUR",
                total=Decimal("120.00"),
                refunded=Decimal(0),
            )
            for n in range(changed)
        ]
        new_ingest_s = ingest(db, new)
        began = time.perf_counter()
        [incremental] = refresh.run(tenants=[TENANT])
        incremental_s = time.perf_counter() - began
        db.dispose()
    result = {
        "customers": args.customers,
        "orders": args.orders,
        "ingest_seconds": round(ingest_s, 1),
        "ingest_orders_per_s": round(args.orders / ingest_s),
        "engagement_rows": engagement_rows,
        "full_seconds": round(full_s, 2),
        "full_recomputed": full.recomputed,
        "full_target_seconds": 30,
        "incremental_changed_orders": changed,
        "incremental_ingest_seconds": round(new_ingest_s, 2),
        "incremental_seconds": round(incremental_s, 3),
        "incremental_recomputed": incremental.recomputed,
        "incremental_was_full": incremental.full,
        "incremental_target_seconds": 2,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    width = max(len(k) for k in result)
    print(f"{'measure':<{width}}  {'value':>12}")
    for key, value in result.items():
        print(f"{key:<{width}}  {value!s:>12}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
