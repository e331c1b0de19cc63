"""The demo's consent part: one unsubscribe in HubSpot flowing to B2Connect and Salesforce.

Everything printed is read back from the emulators after the consent sync ran.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from consent.consent_service import consent_sync_for
from sync.runner import Runner

__all__ = ["consent_round", "show_unsubscribe"]


def _masked(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _candidate(stack: Any, sid_purpose: str) -> tuple[str, str] | None:
    """(customer id, email) of someone granted in B2Connect and present in both CRMs."""
    hubspot = {c["properties"].get("email") for c in stack.hubspot.admin_list("contacts")}
    salesforce = {str(c.get("Email") or "").lower() for c in stack.salesforce.admin_list("Contact")}
    for row in stack.b2connect.admin_list("consents"):
        email = str(row.get("email") or "").strip().lower()
        if (
            row["channel"] == "email"
            and row["purpose"] == sid_purpose
            and row["status"] == "granted"
            and row.get("subjectId")
            and not row.get("deleted")
            and email in hubspot
            and email in salesforce
        ):
            return str(row["subjectId"]), email
    return None


def show_unsubscribe(runner: Runner, stack: Any, console: Console) -> None:
    """Sync consent, unsubscribe one person in HubSpot, sync again, show where it landed."""
    settings = runner.config.consent
    if settings is None or settings.hubspot is None:
        return
    job = consent_sync_for(runner)
    first = job.run()
    console.print(
        f"[bold]consent[/]: {first.decisions} decisions read, "
        f"{sum(first.applied.values())} applied across systems"
    )
    sub = next((s for s in settings.hubspot.subscriptions if s.purpose == "marketing"), None)
    found = _candidate(stack, sub.purpose) if sub else None
    if sub is None or found is None:
        console.print("consent: nobody to unsubscribe in this data set")
        return
    customer, email = found
    stack.hubspot.admin_patch(
        "subscriptions",
        email,
        {"subscriptionId": sub.subscription_id, "statusState": "UNSUBSCRIBED"},
    )
    summary = job.run()
    shop = [
        r
        for r in stack.b2connect.admin_list("consents")
        if r.get("subjectId") == customer
        and r["purpose"] == sub.purpose
        and r["channel"] == "email"
    ]
    contacts = [
        c
        for c in stack.salesforce.admin_list("Contact")
        if str(c.get("Email") or "").lower() == email
    ]
    status = shop[0]["status"] if shop else "?"
    opted_out = all(c.get("HasOptedOutOfEmail") for c in contacts) if contacts else False
    console.print(
        f"[bold]unsubscribe[/]: {_masked(email)} unsubscribed from '{sub.purpose}' in HubSpot → "
        f"B2Connect consent {status} (source {shop[0].get('source') if shop else '?'}), "
        f"Salesforce HasOptedOutOfEmail={opted_out}; {summary.decisions} decision, "
        f"{sum(summary.applied.values())} writes, audited as consent.change"
    )


def consent_round(runner: Runner) -> str:
    """One consent sync during the live rounds, as a short phrase."""
    if runner.config.consent is None:
        return ""
    summary = consent_sync_for(runner).run()
    return f", consent decisions {summary.decisions} (applied {sum(summary.applied.values())})"
