"""The record hooks: orders feed the ledger, customers get ``insights.*`` fields."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from b2sync.features import RECORD_HOOKS
from connectors.records import Record
from insights.compute import load_population
from insights.hooks import insights_hook
from insights.ledger import dirty_keys, orders_of
from mapping.config import Config, Pipeline
from sync.hashing import FieldHasher
from sync.hooks import HookContext, hooks_for
from tests.insights.factories import NOW, order
from tests.insights.kit import TENANT

CONFIG = Config.model_validate(
    {
        "connections": {
            "shop": {"type": "b2connect", "url": "http://127.0.0.1:1", "token": "${T}",
                     "tenant_id": TENANT},
            "hs": {"type": "hubspot", "url": "http://127.0.0.1:1", "token": "${T}"},
        },
        "pipelines": [
            {
                "name": "customers",
                "b2connect": {"connection": "shop", "stream": "customers"},
                "crm": {"connection": "hs", "object": "contacts"},
                "fields": [
                    {"b2connect": "email", "crm": "email"},
                    {"b2connect": "insights.ltv", "crm": "b2c_ltv"},
                ],
            },
            {
                "name": "plain",
                "b2connect": {"connection": "shop", "stream": "customers"},
                "crm": {"connection": "hs", "object": "contacts"},
                "fields": [{"b2connect": "email", "crm": "email"}],
            },
            {
                "name": "orders",
                "b2connect": {"connection": "shop", "stream": "orders"},
                "crm": {"connection": "hs", "object": "orders"},
                "fields": [{"b2connect": "orderNumber", "crm": "hs_order_name"}],
            },
        ],
    }
)  # fmt: skip


def _ctx(db: sa.Engine, pipeline: Pipeline, *, dry_run: bool = False) -> HookContext:
    return HookContext(
        pipeline=pipeline, db=db, hasher=FieldHasher(b"k" * 32), tenant_id=TENANT,
        run_id="r", now=NOW, dry_run=dry_run,
    )  # fmt: skip


def _record(stream: str, fields: dict[str, Any]) -> Record:
    return Record(stream, str(fields["id"]), fields)


def _run(db: sa.Engine, name: str, records: list[Record], **kw: Any) -> list[Record]:
    pipe = CONFIG.pipeline(name)
    hook = insights_hook(CONFIG, pipe)
    assert hook is not None
    return hook(_ctx(db, pipe, **kw), records)


def test_the_insights_hook_is_the_products_last_record_hook() -> None:
    """The composition root runs the insights hook after the consent hooks, on orders too."""
    assert RECORD_HOOKS[-1] is insights_hook
    assert len(hooks_for(RECORD_HOOKS, CONFIG, CONFIG.pipeline("orders"))) >= 1


def test_customers_pipelines_without_insight_fields_get_no_hook() -> None:
    """Mapping no insights.* field costs nothing."""
    assert insights_hook(CONFIG, CONFIG.pipeline("plain")) is None


def test_orders_hook_feeds_the_ledger_and_passes_records_on(sqlite_store_engine: sa.Engine) -> None:
    """Orders go into the ledger, their customer is dirty, the records are unchanged."""
    records = [_record("orders", order("o1", customer="c-1")), _record("orders", order("o2"))]

    out = _run(sqlite_store_engine, "orders", records)

    assert out == records
    with sqlite_store_engine.connect() as conn:
        assert [o.order_id for o in orders_of(conn, TENANT, "c-1")] == ["o1", "o2"]
        assert dirty_keys(conn, TENANT) == ["c-1"]


def test_dry_run_leaves_the_ledger_alone(sqlite_store_engine: sa.Engine) -> None:
    """A dry run plans; it records nothing."""
    _run(sqlite_store_engine, "orders", [_record("orders", order("o1"))], dry_run=True)

    with sqlite_store_engine.connect() as conn:
        assert orders_of(conn, TENANT, "c-1") == []


def test_deleted_order_leaves_the_ledger(sqlite_store_engine: sa.Engine) -> None:
    """A deletion from B2Connect removes the order."""
    _run(sqlite_store_engine, "orders", [_record("orders", order("o1"))])

    _run(sqlite_store_engine, "orders", [Record("orders", "o1", {}, deleted=True)])

    with sqlite_store_engine.connect() as conn:
        assert orders_of(conn, TENANT, "c-1") == []


@pytest.mark.parametrize("total", ["150.00", "1200.00"])
def test_customers_get_insight_fields(sqlite_store_engine: sa.Engine, total: str) -> None:
    """Each customer record carries an ``insights`` object computed from the ledger."""
    _run(sqlite_store_engine, "orders", [_record("orders", order("o1", total=total))])
    customer = _record("customers", {"id": "c-1", "email": "a@example.com"})

    [out] = _run(sqlite_store_engine, "customers", [customer])

    insights = out.fields["insights"]
    assert insights["ltv"] == total
    assert insights["order_count"] == 1
    assert insights["vip"] is (total == "1200.00")
    assert out.fields["email"] == "a@example.com"


def test_a_customer_without_orders_is_a_prospect(sqlite_store_engine: sa.Engine) -> None:
    """Registered, no order: stage prospect, LTV zero, no RFM."""
    [out] = _run(sqlite_store_engine, "customers", [_record("customers", {"id": "c-9"})])

    insights = out.fields["insights"]
    assert (insights["lifecycle_stage"], insights["ltv"], insights["rfm_code"]) == (
        "prospect", "0.00", None,
    )  # fmt: skip


def test_customers_dry_run_stores_nothing(sqlite_store_engine: sa.Engine) -> None:
    """A dry run still shows the insight fields but records no customer and no cut points."""
    _run(sqlite_store_engine, "orders", [_record("orders", order("o1"))])

    [out] = _run(
        sqlite_store_engine, "customers", [_record("customers", {"id": "c-1"})], dry_run=True
    )

    assert out.fields["insights"]["order_count"] == 1
    with sqlite_store_engine.connect() as conn:
        assert load_population(conn, TENANT) is None


def test_cut_points_from_an_empty_ledger_are_established_again(
    sqlite_store_engine: sa.Engine,
) -> None:
    """Customers before orders store empty cut points; the next flush takes the real ones."""
    _run(sqlite_store_engine, "customers", [_record("customers", {"id": "c-0"})])
    small = [order(f"s{n}", total="10.00", customer=f"c-{n}") for n in range(1, 5)]
    _run(sqlite_store_engine, "orders", [_record("orders", o) for o in small])
    _run(sqlite_store_engine, "orders", [_record("orders", order("big", total="900.00"))])

    [out] = _run(sqlite_store_engine, "customers", [_record("customers", {"id": "c-2"})])

    with sqlite_store_engine.connect() as conn:
        stored = load_population(conn, TENANT)
    assert stored is not None and stored[1]["size"] == 4
    assert out.fields["insights"]["rfm_code"][2] == "1"  # bottom by the real cut points


def test_stored_cut_points_of_buyers_are_kept(sqlite_store_engine: sa.Engine) -> None:
    """Once cut points come from buyers, the hook uses them (the refresh pass moves them)."""
    _run(sqlite_store_engine, "orders", [_record("orders", order("o1", total="50.00"))])
    _run(sqlite_store_engine, "customers", [_record("customers", {"id": "c-1"})])
    with sqlite_store_engine.connect() as conn:
        before = load_population(conn, TENANT)
    _run(sqlite_store_engine, "orders", [_record("orders", order("o2", customer="c-2"))])

    _run(sqlite_store_engine, "customers", [_record("customers", {"id": "c-2"})])

    with sqlite_store_engine.connect() as conn:
        assert load_population(conn, TENANT) == before
