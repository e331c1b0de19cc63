"""Kit for the fault tests: what each system holds (orders, their lines, no duplicates),
pending dead letters, and the HubSpot routes the faults target."""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa

from store.models import metadata
from tests.e2e.conftest import E2E

HS_SEARCH = "POST /crm/v3/objects/{object_type}/search"
HS_UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"
HS_ASSOC = "POST /crm/v4/associations/{from_type}/{to_type}/batch/create"
SF_COLLECTIONS = "PATCH /services/data/{version}/composite/sobjects/{sobject}/{field}"


def shop_lines(e2e: E2E) -> dict[str, set[str]]:
    """B2Connect order id → its line ids."""
    return {
        str(o["id"]): {str(line["id"]) for line in o.get("items") or []}
        for o in e2e.records("b2connect", "orders")
    }


def hubspot_lines(e2e: E2E) -> dict[str, set[str]]:
    """HubSpot order (by ``b2connect_id``) → the ``b2connect_id`` of its associated lines."""
    hub = e2e.stack.hubspot
    line_keys = {
        str(r["id"]): str(r["properties"].get("b2connect_id"))
        for r in e2e.records("hubspot", "line_items")
        if not r.get("archived")
    }
    out: dict[str, set[str]] = {}
    for order in e2e.records("hubspot", "orders"):
        if order.get("archived"):
            continue
        targets = hub.store.assoc.targets("orders", str(order["id"]), "line_items")  # type: ignore[attr-defined]
        out[str(order["properties"].get("b2connect_id"))] = {
            line_keys[tid] for tid, _types in targets if tid in line_keys
        }
    return out


def duplicates(e2e: E2E, system: str, obj: str, field: str) -> list[str]:
    """Values of ``field`` held by more than one live record of ``obj``."""
    values = Counter(
        str(r.get("properties", r).get(field))
        for r in e2e.records(system, obj)
        if not r.get("archived") and not r.get("IsDeleted")
    )
    return sorted(v for v, n in values.items() if n > 1)


def pending(e2e: E2E, pipeline: str | None = None) -> list[dict[str, Any]]:
    """Pending dead letters (of one pipeline, or all)."""
    runner = e2e.runner()
    try:
        table = metadata.tables["dead_letters"]
        query = sa.select(table).where(table.c.status == "pending")
        if pipeline is not None:
            query = query.where(table.c.pipeline == pipeline)
        with runner.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        runner.close()
