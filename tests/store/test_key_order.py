"""Per-tenant keys end with ``b2sync_tenant``, so the engine's lookups by key are searches.

The engine names the natural key in its lookups (a link by pipeline and key, a deferred link,
an insights customer), never the tenant: PostgreSQL's policy adds it and a SQLite file holds
one. An index is only searched by its leading columns, so a key starting with the tenant made
every such lookup on SQLite a scan of the table, and a backfill's store work grew with the
square of the shop (migration 0015).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from insights.ledger import CustomerRow, clear_dirty, dirty_marks, touch_customers
from store import TENANT_COLUMN, downgrade, upgrade
from sync import state

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _keys(engine: sa.Engine) -> dict[str, list[list[str]]]:
    """Every unique constraint and primary key holding the tenant column, by table."""
    inspector = sa.inspect(engine)
    out: dict[str, list[list[str]]] = {}
    for table in inspector.get_table_names():
        found = [list(u["column_names"]) for u in inspector.get_unique_constraints(table)]
        found.append(list(inspector.get_pk_constraint(table)["constrained_columns"]))
        keyed = [cols for cols in found if TENANT_COLUMN in cols and len(cols) > 1]
        if keyed:
            out[table] = keyed
    return out


def test_every_per_tenant_key_ends_with_the_tenant(store_engine: sa.Engine) -> None:
    """On both stores, every natural key is searchable by its own columns."""
    keys = _keys(store_engine)

    assert {"links", "pending_links", "insights_customers", "settings"} <= set(keys)
    leading = {t: cols for t, found in keys.items() for cols in found if cols[-1] != TENANT_COLUMN}
    assert leading == {}


def test_downgrade_puts_the_tenant_first_again_and_upgrade_back(store_engine: sa.Engine) -> None:
    """Migration 0015 goes both ways on both stores."""
    downgrade(store_engine, "0014")
    assert all(cols[0] == TENANT_COLUMN for found in _keys(store_engine).values() for cols in found)

    upgrade(store_engine)

    assert all(
        cols[-1] == TENANT_COLUMN for found in _keys(store_engine).values() for cols in found
    )


@contextmanager
def _statements(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def _plans(engine: sa.Engine, statements: list[tuple[str, Any]], table: str) -> list[str]:
    """SQLite's query plan of every captured statement on ``table`` (its first parameters)."""
    plans = []
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for statement, params in statements:
            words = f" {statement} ".replace('"', " ").replace("\n", " ")
            if f" {table} " not in words or statement.lstrip().upper().startswith("INSERT"):
                continue  # an insert's conflict check is the unique index itself
            first = params[0] if isinstance(params, list) and params else params
            rows = raw.execute(f"EXPLAIN QUERY PLAN {statement}", first or ()).fetchall()
            plans.append(" / ".join(str(r[-1]) for r in rows))
    return plans


def test_the_engines_keyed_writes_search_by_key_on_sqlite(sqlite_store_engine: sa.Engine) -> None:
    """The statements the engine runs to complete deferred links, save links and touch,
    read and clear insights customers search by the natural key: no scan of the table, no
    search by the tenant or the pipeline alone (every row of a one-shop store)."""
    engine = sqlite_store_engine
    keys = [f"c{i:04d}" for i in range(300)]
    with engine.begin() as conn:
        state.add_pending(
            conn, "orders", [(k, "customers", k, "assoc:customers") for k in keys], NOW
        )
        rows = [(k, f"crm-{k}", {"email": "h"}, "r") for k in keys]
        state.upsert_links(
            conn, pipeline="orders", tenant_id="t1", crm_object="deals", rows=rows, now=NOW
        )
        touch_customers(conn, "t1", [CustomerRow(k, False, None) for k in keys])

    with _statements(engine) as seen, engine.begin() as conn:
        state.load_links(conn, "orders", keys[:5])
        state.upsert_links(
            conn, pipeline="orders", tenant_id="t1", crm_object="deals", rows=rows[:5], now=NOW
        )
        state.remove_pending(conn, "orders", [(k, "assoc:customers") for k in keys[:5]])
        touch_customers(conn, "t1", [CustomerRow(k, True, NOW) for k in keys[:5]])
        marks = dirty_marks(conn, "t1", keys[:5])
        clear_dirty(conn, "t1", keys[:5], marks)

    plans = {
        "links": _plans(engine, seen, "links"),
        "pending_links": _plans(engine, seen, "pending_links"),
        "insights_customers": _plans(engine, seen, "insights_customers"),
    }
    key_column = {
        "links": "b2connect_key=?",
        "pending_links": "record_key=?",
        "insights_customers": "customer_key=?",
    }
    for table, found in plans.items():
        assert found, table
        for plan in found:
            assert f"SCAN {table}" not in plan, (table, plan)
            assert key_column[table] in plan, (table, plan)
    with engine.connect() as conn:
        assert len(state.pending_for(conn, "orders")) == 295
