"""Helpers for the wired insights tests: a migrated store, orders into the ledger, a refresh."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from insights.ledger import upsert_orders
from insights.orders import order_fact
from insights.refresh import InsightsRefresh
from mapping.config import Config, InsightsConfig
from sync.hashing import FieldHasher
from tests.insights.factories import NOW

TENANT = "t-1"
SETTINGS = InsightsConfig(rates={"USD": "0.5"})  # type: ignore[dict-item]


def add(db: sa.Engine, *orders: dict[str, Any], now: datetime = NOW) -> set[str]:
    """Put canonical orders into the ledger (as the orders hook does)."""
    with db.begin() as conn:
        return upsert_orders(conn, TENANT, [order_fact(o) for o in orders], now)


def no_connector(name: str) -> Any:
    raise LookupError(f"no connector {name} in this test")


def refresher(
    db: sa.Engine, clock: Callable[[], datetime] = lambda: NOW, **insights: Any
) -> InsightsRefresh:
    """A refresh pass on ``db`` with no CRM pipelines (compute, snapshots, rules only)."""
    settings = SETTINGS.model_copy(update=insights)
    return InsightsRefresh(
        config=Config(connections={}, insights=settings),
        db=db,
        hasher=FieldHasher(b"k" * 32),
        connector=no_connector,
        tenant_of=lambda pipe: TENANT,
        clock=clock,
    )


def snapshot(db: sa.Engine, key: str) -> dict[str, Any]:
    """The stored insights row of one customer."""
    from insights.ledger import CUSTOMERS

    with db.connect() as conn:
        row = (
            conn.execute(
                CUSTOMERS.select().where(
                    CUSTOMERS.c.tenant_id == TENANT, CUSTOMERS.c.customer_key == key
                )
            )
            .mappings()
            .one()
        )
    return dict(row)
