"""``require_consent`` and ``on_withdraw`` on a push pipeline, through the emulators."""

from __future__ import annotations

from pathlib import Path

import pytest

from consent.consent_service import consent_sync_for
from consent.job import ConsentSummary
from tests.e2e.conftest import E2E, ROOT, by_key, config_for

HS_UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"


def gated_config(tmp_path: Path, on_withdraw: str = "archive") -> str:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    anchor = "    crm: {connection: hubspot, object: contacts, id_property: b2connect_id}\n"
    assert text.count(anchor) == 1
    return text.replace(
        anchor,
        anchor
        + "    require_consent: {channel: email, purpose: marketing}\n"
        + f"    on_withdraw: {on_withdraw}\n",
    )


@pytest.fixture
def gated(e2e: E2E, tmp_path: Path) -> E2E:
    """The e2e kit with customers-to-hubspot requiring email/marketing consent."""
    e2e.config, e2e.config_path = config_for(tmp_path, gated_config(tmp_path))
    return e2e


def consent_sync(e2e: E2E) -> ConsentSummary:
    runner = e2e.runner()
    try:
        return consent_sync_for(runner).run()
    finally:
        runner.close()


def marketing(e2e: E2E) -> dict[str, str]:
    """Customer id -> status of their email/marketing consent in B2Connect."""
    return {
        str(r["subjectId"]): str(r["status"])
        for r in e2e.records("b2connect", "consents")
        if r["channel"] == "email" and r["purpose"] == "marketing" and r.get("subjectId")
    }


def pushed(e2e: E2E) -> set[str]:
    return set(by_key(e2e.records("hubspot", "contacts"), "b2connect_id"))


def test_require_consent_keeps_unconsented_people_out_of_the_crm(gated: E2E) -> None:
    """Only people with email/marketing granted reach HubSpot; the upserts carry no one else."""
    consent_sync(gated)
    before = gated.calls("hubspot").get(HS_UPSERT, 0)
    [summary] = gated.sync("customers-to-hubspot")
    status = marketing(gated)
    granted = {c for c, s in status.items() if s == "granted"}
    customers = {c["id"] for c in gated.records("b2connect", "customers")}
    assert pushed(gated), "nobody was pushed"
    assert pushed(gated) <= granted
    assert customers - granted, "the seed has people without the consent"
    assert not pushed(gated) & (customers - granted)
    assert 0 < summary.counts["written"] <= len(granted & customers)
    assert gated.calls("hubspot")[HS_UPSERT] - before == 1


def test_a_held_person_who_grants_consent_is_pushed(gated: E2E) -> None:
    """Someone left out for want of consent reaches HubSpot once they grant it."""
    consent_sync(gated)
    gated.sync("customers-to-hubspot")
    status = marketing(gated)
    customers = {c["id"]: c for c in gated.records("b2connect", "customers")}
    held = next(
        c
        for c, row in customers.items()
        if status.get(c) != "granted"
        and "@" in str(row.get("email"))
        and c not in pushed(gated)
        and str(row["email"]).strip() == str(row["email"]).strip().lower()
    )
    gated.stack.b2connect.admin_create(
        "consents",
        {"subjectId": held, "channel": "email", "purpose": "marketing", "status": "granted"},
    )
    summary = consent_sync(gated)
    assert summary.released == 1
    assert held in pushed(gated)


def test_withdrawal_archives_the_crm_record_when_asked(gated: E2E) -> None:
    """on_withdraw: archive: a pushed person who withdraws is archived in HubSpot."""
    consent_sync(gated)
    gated.sync("customers-to-hubspot")
    customer = sorted(pushed(gated))[0]
    row = next(
        r
        for r in gated.records("b2connect", "consents")
        if r.get("subjectId") == customer
        and r["purpose"] == "marketing"
        and r["channel"] == "email"
    )
    gated.stack.b2connect.admin_patch("consents", row["id"], {"status": "withdrawn"})
    summary = consent_sync(gated)
    assert summary.archived == 1
    assert customer not in pushed(gated)
    archived = [
        c
        for c in gated.records("hubspot", "contacts")
        if c["properties"].get("b2connect_id") == customer
    ]
    assert archived and all(c["archived"] for c in archived)
