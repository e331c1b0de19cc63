"""Helpers the insights end-to-end tests share: one insights pass, contacts as the CRMs hold them."""

from __future__ import annotations

from typing import Any

from insights.refresh import InsightsRefresh, RefreshSummary
from tests.e2e.conftest import E2E

__all__ = [
    "backfill",
    "hubspot_contacts",
    "hubspot_ticket",
    "link_to_contact",
    "refresh_insights",
    "salesforce_contacts",
    "seeded_orders_of",
]


def refresh_insights(e2e: E2E) -> RefreshSummary:
    """One insights pass, and its summary."""
    runner = e2e.runner()
    try:
        [summary] = InsightsRefresh.for_runner(runner).run()
        return summary
    finally:
        runner.close()


def backfill(e2e: E2E) -> None:
    """A sync, then the baseline insights pass."""
    e2e.sync()
    refresh_insights(e2e)  # the first pass is the baseline: fields pushed, no rule fires


def hubspot_contacts(e2e: E2E) -> dict[str, dict[str, Any]]:
    """Live HubSpot contacts by ``b2connect_id``."""
    return {
        c["properties"]["b2connect_id"]: c
        for c in e2e.records("hubspot", "contacts")
        if c["properties"].get("b2connect_id") and not c.get("archived")
    }


def salesforce_contacts(e2e: E2E) -> dict[str, dict[str, Any]]:
    """Live Salesforce contacts by ``B2Connect_Id__c``."""
    return {
        c["B2Connect_Id__c"]: c
        for c in e2e.records("salesforce", "Contact")
        if c.get("B2Connect_Id__c") and not c.get("IsDeleted")
    }


def seeded_orders_of(e2e: E2E, key: str) -> list[dict[str, Any]]:
    """The seeded orders of customer ``key``."""
    assert e2e.stack.seed_data is not None
    return [o for o in e2e.stack.seed_data.orders if o["customerId"] == key]


def link_to_contact(e2e: E2E, kind: str, item: str, contact: str) -> None:
    """Associate HubSpot ``kind`` record ``item`` with contact ``contact``."""
    e2e.stack.hubspot.admin_create(
        "associations",
        {"fromObjectType": kind, "fromObjectId": item,
         "toObjectType": "contacts", "toObjectId": contact},
    )  # fmt: skip


def hubspot_ticket(e2e: E2E, contact: str, stage: str = "1") -> None:
    """A HubSpot ticket (stage ``stage``) of contact ``contact``."""
    props = {"subject": "Lieferung fehlt", "hs_pipeline": "0", "hs_pipeline_stage": stage}
    ticket = e2e.stack.hubspot.admin_create("tickets", {"properties": props})["id"]
    link_to_contact(e2e, "tickets", str(ticket), contact)
