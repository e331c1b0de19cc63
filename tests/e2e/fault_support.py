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


#: dead-letter codes of the shop's own bad data (invalid emails, over-long values): parked
#: in a calm run too, so a storm test leaves them out of "every record reached the CRM"
DATA_CODES = frozenset({"MAPPING_ERROR", "STRING_TOO_LONG"})
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
READ_PATHS = ("/search", "/batch/read", "/query")


def storm_rules(partial: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's storm: 10% 5xx, 5% 429, 2% timeouts, 2% resets, 5% partial batches."""
    return [
        {"match": "*", "kind": "status", "status": 503, "probability": 0.10},
        # a burst-limit 429 whose window is one second (HubSpot's real one is ten)
        {"match": "*", "kind": "status", "status": 429, "probability": 0.05,
         "headers": {"Retry-After": "1", "X-HubSpot-RateLimit-Interval-Milliseconds": "1000"}},
        {"match": "*", "kind": "slow", "delay_s": 1.5, "probability": 0.02},  # > timeout_s
        {"match": "*", "kind": "reset", "probability": 0.02},
        {"match": "*", "kind": "partial", "every": 3, "probability": 0.05, **partial},
    ]  # fmt: skip


def write_calls(e2e: E2E) -> dict[str, int]:
    """Write calls per system and route so far (reads, searches and SOQL excluded)."""
    out: dict[str, int] = {}
    for system in ("b2connect", "hubspot", "salesforce"):
        for key, count in e2e.calls(system).items():
            method, _, path = key.partition(" ")
            if method in WRITE_METHODS and not any(p in path for p in READ_PATHS):
                out[f"{system} {key}"] = count
    return out


def excluded(e2e: E2E) -> dict[str, set[str]]:
    """Per pipeline: keys the shop's own data keeps out of the CRM (data dead letters, open
    conflicts). Fails when any other dead letter is pending: a fault must leave none."""
    out: dict[str, set[str]] = {}
    left = [d for d in pending(e2e) if d["error_code"] not in DATA_CODES]
    assert not left, [(d["pipeline"], d["stream"], d["error_code"]) for d in left]
    for d in pending(e2e):
        out.setdefault(str(d["pipeline"]), set()).add(str(d["record_key"]))
    runner = e2e.runner()
    try:
        table = metadata.tables["conflicts"]
        with runner.db.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.pipeline, table.c.record_key).where(table.c.status == "open")
            )
            for pipeline, key in rows:
                out.setdefault(str(pipeline), set()).add(str(key))
    finally:
        runner.close()
    return out


def crm_keys(e2e: E2E, system: str, obj: str) -> Counter[str]:
    """How many live records of ``obj`` hold each B2Connect key."""
    field = "b2connect_id" if system == "hubspot" else "B2Connect_Id__c"
    return Counter(
        str(r.get("properties", r).get(field))
        for r in e2e.records(system, obj)
        if not r.get("archived") and not r.get("IsDeleted") and r.get("properties", r).get(field)
    )


def salesforce_lines(e2e: E2E) -> dict[str, set[str]]:
    """Salesforce order (by ``B2Connect_Id__c``) → the B2Connect keys of its lines."""
    orders = {
        str(o["Id"]): str(o.get("B2Connect_Id__c"))
        for o in e2e.records("salesforce", "B2C_Order__c")
        if not o.get("IsDeleted")
    }
    out: dict[str, set[str]] = {key: set() for key in orders.values()}
    for line in e2e.records("salesforce", "B2C_Order_Line__c"):
        if not line.get("IsDeleted") and str(line.get("Order__c")) in orders:
            out[orders[str(line["Order__c"])]].add(str(line.get("B2Connect_Id__c")))
    return out


def assert_crms_match_shop(e2e: E2E) -> None:
    """Every shop customer, company, order and line is in both CRMs exactly once (but what
    the shop's own bad data keeps out), and every HubSpot line is associated to its order."""
    skip = excluded(e2e)
    shop = {
        stream: {str(r["id"]) for r in e2e.records("b2connect", stream)}
        for stream in ("customers", "companies", "orders")
    }
    for pipeline, system, obj, stream in (
        ("customers-to-hubspot", "hubspot", "contacts", "customers"),
        ("companies-to-hubspot", "hubspot", "companies", "companies"),
        ("orders-to-hubspot", "hubspot", "orders", "orders"),
        ("customers-to-salesforce", "salesforce", "Contact", "customers"),
        ("companies-to-salesforce", "salesforce", "Account", "companies"),
        ("orders-to-salesforce", "salesforce", "B2C_Order__c", "orders"),
    ):
        held = crm_keys(e2e, system, obj)
        assert set(held) == shop[stream] - skip.get(pipeline, set()), pipeline
        assert all(n == 1 for n in held.values()), f"{pipeline}: duplicates"
    lines = shop_lines(e2e)
    assert hubspot_lines(e2e) == lines
    assert salesforce_lines(e2e) == lines
    for system, obj in (("hubspot", "line_items"), ("salesforce", "B2C_Order_Line__c")):
        held = crm_keys(e2e, system, obj)
        assert sum(held.values()) == sum(len(v) for v in lines.values()), f"{obj}: duplicates"
