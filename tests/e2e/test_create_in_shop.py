"""Accounts and companies created in the CRM and marked for the shop become B2Connect
companies and customers (``create_in_shop``), through the real SDKs and the emulators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hubspot
import pytest
import sqlalchemy as sa
from simple_salesforce.api import Salesforce

from store.models import metadata
from tests.e2e.conftest import E2E, ROOT, config_for
from tests.e2e.test_cli_sync import cli
from tests.fixtures.hubspot import hubspot_client_for
from tests.fixtures.salesforce import salesforce_client

SF_MARK = "B2C_Create_In_Shop__c"
HS_MARK = "b2c_create_in_shop"
CREATES = ("POST /api/crm/customers", "POST /api/crm/companies")


def _marked_config(tmp_path: Path, crm: str) -> str:
    """The shipped config with create_in_shop on the CRM's companies pipeline."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    mark = SF_MARK if crm == "salesforce" else HS_MARK
    anchor = f"  - name: companies-to-{crm}\n"
    assert text.count(anchor) == 1
    rule = (
        f"    create_in_shop:\n      when: {{field: {mark}, equals: true}}\n"
        f"      contacts: customers-to-{crm}\n"
    )
    return text.replace(anchor, anchor + rule)


def _use(e2e: E2E, tmp_path: Path, text: str) -> None:
    e2e.config, e2e.config_path = config_for(tmp_path, text)


def _sync(e2e: E2E, crm: str) -> list[Any]:
    return e2e.sync(f"companies-to-{crm}", f"customers-to-{crm}")


def _shop(e2e: E2E, entity: str, field: str, value: str) -> list[dict[str, Any]]:
    return [
        r
        for r in e2e.records("b2connect", entity)
        if str(r.get(field) or "").lower() == value.lower() and not r.get("deleted")
    ]


def _dead_letters(e2e: E2E) -> list[dict[str, Any]]:
    runner = e2e.runner()
    try:
        table = metadata.tables["dead_letters"]
        with runner.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(table))]
    finally:
        runner.close()


def _creates(e2e: E2E) -> int:
    calls = e2e.calls("b2connect")
    return sum(calls.get(route, 0) for route in CREATES)


def _outcomes(e2e: E2E) -> list[tuple[str, str]]:
    runner = e2e.runner()
    try:
        table = metadata.tables["audit_events"]
        with runner.db.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.stream, table.c.outcome).where(
                    table.c.action == "b2connect.write",
                    table.c.outcome.in_(["created", "matched"]),
                )
            )
            return sorted((str(s), str(o)) for s, o in rows)
    finally:
        runner.close()


def _linked_customer(e2e: E2E) -> dict[str, Any]:
    """A B2Connect customer push already linked to a Salesforce Contact."""
    linked = {c.get("B2Connect_Id__c") for c in e2e.records("salesforce", "Contact")}
    return sorted(
        (c for c in e2e.records("b2connect", "customers") if c["id"] in linked),
        key=lambda c: str(c["id"]),
    )[0]


def _salesforce_account(sf: Salesforce, known: str, twin: str) -> dict[str, str]:
    """A Salesforce user creates an Account marked for the shop with three Contacts (a new
    person, one the shop knows by email but the CRM not yet, one re-entering a person the
    CRM already has) and one unmarked Account with a Contact."""
    account = sf.Account.create(
        {"Name": "Nordlicht Handel GmbH", "VAT_Id__c": "DE811122233", SF_MARK: True}
    )["id"]
    out = {"account": account}
    for role, first, email in (
        ("new", "Ilse", "ilse.brandt@example.org"), ("known", "Known", known.upper()),
        ("twin", "Twin", twin),
    ):  # fmt: skip
        body = {"FirstName": first, "LastName": "Brandt", "Email": email, "AccountId": account}
        out[role] = sf.Contact.create(body)["id"]
    other = sf.Account.create({"Name": "Not For The Shop AG"})["id"]
    sf.Contact.create(
        {"LastName": "Elsewhere", "Email": "elsewhere@example.org", "AccountId": other}
    )
    return out


def test_a_marked_salesforce_account_and_its_contacts_are_created_in_the_shop(
    e2e: E2E, tmp_path: Path
) -> None:
    """Account marked B2C_Create_In_Shop__c: a B2Connect company, its new Contact a Business
    customer of it, the Contact whose email the shop knows linked (no duplicate), audited,
    no consent assumed; the unmarked Account creates nothing; a rerun creates nothing."""
    _use(e2e, tmp_path, _marked_config(tmp_path, "salesforce"))
    _sync(e2e, "salesforce")
    linked = _linked_customer(e2e)
    shop_only = e2e.stack.b2connect.admin_create(
        "customers", {"email": "olaf.shop@example.org", "firstName": "Olaf", "lastName": "Shop"}
    )
    sf = salesforce_client(e2e.stack.salesforce)
    made = _salesforce_account(sf, str(shop_only["email"]), str(linked["email"]))
    summaries = _sync(e2e, "salesforce")
    assert all(s.status.value == "succeeded" for s in summaries), [s.error for s in summaries]
    [company] = _shop(e2e, "companies", "vatId", "DE811122233")
    assert company["name"] == "Nordlicht Handel GmbH"
    [person] = _shop(e2e, "customers", "email", "ilse.brandt@example.org")
    assert (person["firstName"], person["lastName"]) == ("Ilse", "Brandt")
    assert (person["companyId"], person["customerType"]) == (company["id"], "Business")
    assert len(_shop(e2e, "customers", "email", str(shop_only["email"]))) == 1
    assert len(_shop(e2e, "customers", "email", str(linked["email"]))) == 1
    assert _shop(e2e, "customers", "email", "elsewhere@example.org") == []
    assert _shop(e2e, "companies", "name", "Not For The Shop AG") == []
    consents = [
        c for c in e2e.records("b2connect", "consents") if c.get("subjectId") == person["id"]
    ]
    assert consents == [], "nobody gets marketing consent by being created"
    assert _outcomes(e2e) == [
        ("companies", "created"),
        ("customers", "created"),
        ("customers", "matched"),
    ]
    sf_contacts = {c["Id"]: c for c in e2e.records("salesforce", "Contact")}
    assert sf_contacts[made["new"]]["B2Connect_Id__c"] == person["id"]
    assert sf_contacts[made["known"]]["B2Connect_Id__c"] == shop_only["id"]
    assert sf_contacts[made["twin"]]["B2Connect_Id__c"] is None, "the CRM's duplicate"
    [parked] = [d for d in _dead_letters(e2e) if d["error_code"] == "DUPLICATE_IN_CRM"]
    assert linked["id"] in parked["error_message"]
    before = _creates(e2e)
    again = _sync(e2e, "salesforce")
    again_full = [
        e2e.sync(f"{kind}-to-salesforce", full=True)[0] for kind in ("companies", "customers")
    ]
    assert _creates(e2e) == before, "a rerun (and a full one) creates nothing"
    assert all(s.counts.get("create_created", 0) == 0 for s in [*again, *again_full])
    assert len(_shop(e2e, "customers", "email", "ilse.brandt@example.org")) == 1


def test_create_in_shop_is_off_by_default(e2e: E2E) -> None:
    """Under the shipped config a marked Account reaches nothing in the shop."""
    _sync(e2e, "salesforce")
    _salesforce_account(salesforce_client(e2e.stack.salesforce), "a@example.org", "b@example.org")
    before = _creates(e2e)
    _sync(e2e, "salesforce")
    assert _creates(e2e) == before == 0
    assert _shop(e2e, "companies", "vatId", "DE811122233") == []


def test_a_marked_hubspot_company_and_its_contacts_are_created_in_the_shop(
    e2e: E2E, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A HubSpot company with b2c_create_in_shop=true and its associated contact become a
    B2Connect company and Business customer; a rerun creates nothing."""
    monkeypatch.setattr(e2e.stack.hubspot.limits, "search_per_second", 1000)  # fast cycles
    _use(e2e, tmp_path, _marked_config(tmp_path, "hubspot"))
    _sync(e2e, "hubspot")
    client = hubspot_client_for(e2e.stack.hubspot)
    _hubspot_property(client)
    company = client.crm.companies.basic_api.create(
        {"properties": {"name": "Fjordlys AS", "domain": "fjordlys.example.org", HS_MARK: "true"}}
    ).id
    contact = client.crm.contacts.basic_api.create(
        {"properties": {"email": "kari.nordmann@example.org", "firstname": "Kari",
                        "lastname": "Nordmann"}}
    ).id  # fmt: skip
    client.crm.associations.v4.basic_api.create_default("companies", company, "contacts", contact)
    summaries = _sync(e2e, "hubspot")
    assert all(s.status.value == "succeeded" for s in summaries), [s.error for s in summaries]
    [shop_company] = _shop(e2e, "companies", "name", "Fjordlys AS")
    [person] = _shop(e2e, "customers", "email", "kari.nordmann@example.org")
    assert (person["companyId"], person["customerType"]) == (shop_company["id"], "Business")
    before = _creates(e2e)
    _sync(e2e, "hubspot")
    assert _creates(e2e) == before


def _hubspot_property(client: hubspot.Client) -> None:
    """The portal's marker property on companies (an admin creates it once)."""
    client.crm.properties.core_api.create(
        "companies",
        {
            "name": HS_MARK,
            "label": "Create in shop",
            "type": "bool",
            "fieldType": "booleancheckbox",
            "groupName": "companyinformation",
            "options": [
                {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
            ],
        },
    )


def test_check_refuses_contacts_through_a_pipeline_that_is_not_customers(
    e2e: E2E, tmp_path: Path
) -> None:
    """``contacts:`` naming an orders pipeline: `check` exits 2 with file:line and the key."""
    text = _marked_config(tmp_path, "salesforce").replace(
        "contacts: customers-to-salesforce", "contacts: orders-to-salesforce"
    )
    e2e.config_path.write_text(text, encoding="utf-8")
    line = next(
        n for n, row in enumerate(text.splitlines(), 1) if "contacts: orders-to-salesforce" in row
    )
    result = cli(e2e, "check", "--config", str(e2e.config_path))
    assert result.returncode == 2, result.stdout
    [problem] = [r for r in result.stderr.splitlines() if r.startswith(f"{e2e.config_path}:")]
    assert f":{line}:" in problem and "create_in_shop.contacts" in problem
    assert "'orders-to-salesforce' is not a customers pipeline" in problem
