"""The ``erasure:`` policy in Salesforce: orders and consent records removed (or kept) with
the Contact, through the emulators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit import Filters, search
from b2sync.runtime import build_runner
from connectors.records import Subject
from connectors.salesforce import SalesforceConnector
from consent.erasure.model import SubjectIds
from consent.erasure.related import salesforce_policy
from consent.erasure.report import erasure_status
from consent.erasure.service import desk_for, processor_for
from sync.runner import Runner
from tests.e2e.conftest import E2E, FAST_RETRY, ROOT, config_for

PIPELINES = ["customers-to-salesforce", "orders-to-salesforce"]
ORDER, LINE, CONSENT = "B2C_Order__c", "B2C_Order_Line__c", "ContactPointTypeConsent"


def _runner(e2e: E2E, policy: str | None, tmp_path: Path) -> Runner:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    if policy is not None:
        text += f"\nerasure:\n  salesforce: {policy}\n"
    e2e.config, _ = config_for(tmp_path, text)
    options = {"hubspot": {"waiter": e2e.waits.append}, "salesforce": {"bulk_wait_s": 0.01}}
    return build_runner(e2e.config, retry=FAST_RETRY, connector_options=options)


def _person_with_orders(e2e: E2E) -> tuple[dict[str, Any], list[str]]:
    """A synced Contact with at least two orders in Salesforce, and those orders' Ids."""
    orders = e2e.records("salesforce", ORDER)
    for contact in e2e.records("salesforce", "Contact"):
        mine = [o["Id"] for o in orders if o.get("Contact__c") == contact["Id"]]
        if len(mine) >= 2 and contact.get("Email"):
            return contact, mine
    raise AssertionError("no Salesforce contact has two orders")


def _with_consent(e2e: E2E, contact: dict[str, Any]) -> str:
    """Give the Contact an Individual with one consent record; the Individual's Id."""
    sf = e2e.stack.salesforce
    person = sf.admin_create("Individual", {"LastName": contact["LastName"]})
    sf.admin_patch("Contact", contact["Id"], {"IndividualId": person["Id"]})
    consent = {"Name": "Email marketing", "PartyId": person["Id"], "ContactPointType": "Email",
               "PrivacyConsentStatus": "OptIn"}  # fmt: skip
    sf.admin_create(CONSENT, consent)
    return str(person["Id"])


def _erase(e2e: E2E, runner: Runner, email: str) -> dict[str, Any]:
    """File and process an erasure; the Salesforce step's status row."""
    intake = desk_for(runner).file(SubjectIds(email=email))
    assert intake.request_id is not None
    processor_for(runner).process(intake.request_id)
    with runner.db.connect() as conn:
        [request] = erasure_status(conn, runner.clock(), request_id=intake.request_id)
    [step] = [s for s in request["steps"] if s["system"] == "salesforce"]
    return dict(step)


def _ids(e2e: E2E, obj: str, field: str, values: list[str]) -> list[str]:
    """Ids of every ``obj`` record (Recycle Bin included) whose ``field`` is in ``values``."""
    return [r["Id"] for r in e2e.records("salesforce", obj) if r.get(field) in values]


def test_orders_and_consent_records_go_with_the_contact(e2e: E2E, tmp_path: Path) -> None:
    """With orders: delete, none of the person's orders, order lines, consent records or their
    Individual is left in Salesforce, Recycle Bin included, other people's orders stay, and
    counts (no values) are audited."""
    runner = _runner(e2e, "{orders: delete, consent_records: delete}", tmp_path)
    try:
        for name in PIPELINES:
            runner.run_pipeline(e2e.config.pipeline(name))
        contact, orders = _person_with_orders(e2e)
        lines = _ids(e2e, LINE, "Order__c", orders)
        individual = _with_consent(e2e, contact)
        e2e.stack.salesforce.admin_delete(ORDER, orders[0])  # one already in the Recycle Bin
        others = [o["Id"] for o in e2e.records("salesforce", ORDER) if o["Id"] not in orders]
        step = _erase(e2e, runner, contact["Email"])
        with runner.db.connect() as conn:
            assert runner.audit_keys is not None
            events = search(conn, runner.audit_keys, Filters(action="erasure.step"))
    finally:
        runner.close()
    assert lines
    assert step["status"] == "done", step
    assert _ids(e2e, ORDER, "Id", orders) == []
    assert sorted(_ids(e2e, ORDER, "Id", others)) == sorted(others)  # nobody else's
    assert _ids(e2e, ORDER, "Contact__c", [contact["Id"]]) == []
    assert _ids(e2e, LINE, "Id", lines) == []
    assert _ids(e2e, CONSENT, "PartyId", [individual]) == []
    assert _ids(e2e, "Individual", "Id", [individual]) == []
    assert f"{len(orders)} order(s) removed" in step["detail"]
    assert f"{len(lines)} order line(s) removed" in step["detail"]
    assert "1 consent record(s) removed" in step["detail"]
    [event] = [e for e in events if e.details.get("step") == "salesforce"]
    assert "order(s) removed" in str(event.details)
    assert contact["Email"].lower() not in str(event.details).lower()


def test_orders_stay_by_default(e2e: E2E, tmp_path: Path) -> None:
    """Without a policy the person's orders stay (invoices are kept); consent records go."""
    runner = _runner(e2e, None, tmp_path)
    try:
        for name in PIPELINES:
            runner.run_pipeline(e2e.config.pipeline(name))
        contact, orders = _person_with_orders(e2e)
        individual = _with_consent(e2e, contact)
        step = _erase(e2e, runner, contact["Email"])
    finally:
        runner.close()
    assert step["status"] == "done", step
    assert _ids(e2e, "Contact", "Id", [contact["Id"]]) == []
    assert sorted(_ids(e2e, ORDER, "Id", orders)) == sorted(orders)
    assert "order(s)" not in step["detail"]
    assert _ids(e2e, CONSENT, "PartyId", [individual]) == []


def test_consent_records_can_be_kept(e2e: E2E, tmp_path: Path) -> None:
    """consent_records: keep leaves the person's consent records and Individual in place."""
    runner = _runner(e2e, "{consent_records: keep}", tmp_path)
    try:
        runner.run_pipeline(e2e.config.pipeline(PIPELINES[0]))
        contact = next(c for c in e2e.records("salesforce", "Contact") if c.get("Email"))
        individual = _with_consent(e2e, contact)
        step = _erase(e2e, runner, contact["Email"])
    finally:
        runner.close()
    assert step["status"] == "done", step
    assert len(_ids(e2e, CONSENT, "PartyId", [individual])) == 1
    assert _ids(e2e, "Individual", "Id", [individual]) == [individual]


def test_a_second_erase_of_the_same_person_finds_nothing_and_is_done(
    e2e: E2E, tmp_path: Path
) -> None:
    """The Salesforce erase with the policy is idempotent: a retry after success is done."""
    runner = _runner(e2e, "{orders: delete}", tmp_path)
    try:
        for name in PIPELINES:
            runner.run_pipeline(e2e.config.pipeline(name))
        contact, _orders = _person_with_orders(e2e)
        connector = runner.connector("salesforce")
        assert isinstance(connector, SalesforceConnector)
        policy = salesforce_policy(e2e.config, "salesforce")
        first = connector.erase(Subject(email=contact["Email"]), related=policy)
        again = connector.erase(Subject(email=contact["Email"]), related=policy)
    finally:
        runner.close()
    assert first.done and "order(s) removed" in first.detail
    assert again.done and again.removed == 0
    assert "order(s)" not in again.detail
