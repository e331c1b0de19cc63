"""Customers' stored snapshots (what the rules compare against) and rule-firing counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from insights.compute import Scored
from insights.ledger import CUSTOMERS, to_minor
from insights.rules import Snapshot
from store.models import metadata

__all__ = ["FIRINGS", "firing_counts", "load_state", "save_snapshots"]

FIRINGS = metadata.tables["rule_firings"]


def load_state(
    conn: sa.Connection, tenant_id: str, keys: Sequence[str]
) -> tuple[dict[str, bool], dict[str, Snapshot]]:
    """Each customer's B2B flag and last snapshot (None stage: never computed)."""
    b2b: dict[str, bool] = {}
    snaps: dict[str, Snapshot] = {}
    wanted = sorted(set(keys))
    columns = (CUSTOMERS.c.customer_key, CUSTOMERS.c.b2b, CUSTOMERS.c.stage, CUSTOMERS.c.vip)
    for start in range(0, len(wanted), 900):  # a page's keys, not the whole table
        rows = conn.execute(
            sa.select(*columns).where(
                CUSTOMERS.c.tenant_id == tenant_id,
                CUSTOMERS.c.customer_key.in_(wanted[start : start + 900]),
            )
        )
        for key, is_b2b, stage, vip in rows:
            b2b[key] = bool(is_b2b)
            if stage is not None:
                snaps[key] = Snapshot(stage, vip)
    return b2b, snaps


def firing_counts(
    conn: sa.Connection, tenant_id: str, keys: Sequence[str]
) -> dict[tuple[str, str, str], int]:
    """How often each (customer, rule, transition kind) fired before."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for start in range(0, len(keys), 900):
        rows = conn.execute(
            sa.select(FIRINGS.c.customer_key, FIRINGS.c.rule, FIRINGS.c.transition).where(
                FIRINGS.c.tenant_id == tenant_id,
                FIRINGS.c.customer_key.in_(keys[start : start + 900]),
            )
        )
        for key, rule, transition in rows:
            counts[(key, rule, transition.split(":", 1)[0])] += 1
    return dict(counts)


def save_snapshots(
    conn: sa.Connection, tenant_id: str, scored: list[Scored], now: datetime
) -> None:
    """Store the freshly computed values as the customers' snapshots."""
    if not scored:
        return
    stmt = (
        sa.update(CUSTOMERS)
        .where(CUSTOMERS.c.tenant_id == tenant_id, CUSTOMERS.c.customer_key == sa.bindparam("k"))
        .values(
            stage=sa.bindparam("s_stage"),
            vip=sa.bindparam("s_vip"),
            rfm_code=sa.bindparam("s_rfm"),
            segment=sa.bindparam("s_segment"),
            ltv_minor=sa.bindparam("s_ltv"),
            order_count=sa.bindparam("s_count"),
            first_order_at=sa.bindparam("s_first"),
            last_order_at=sa.bindparam("s_last"),
            computed_at=sa.bindparam("s_at"),
        )
    )
    rows = []
    for s in scored:
        ci, m = s.insights, s.insights.metrics
        rows.append(
            {
                "k": s.key,
                "s_stage": ci.stage.value,
                "s_vip": ci.vip,
                "s_rfm": ci.rfm.code if ci.rfm else None,
                "s_segment": ci.rfm.segment.value if ci.rfm else None,
                "s_ltv": to_minor(m.lifetime_value),
                "s_count": m.order_count,
                "s_first": m.first_order_at,
                "s_last": m.last_order_at,
                "s_at": now,
            }
        )
    conn.execute(stmt, rows)
