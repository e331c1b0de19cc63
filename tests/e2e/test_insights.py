"""End to end: retention insights reach HubSpot and Salesforce; a VIP order fires its rule once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from audit import Filters, KeyRing, search
from insights.metrics import customer_metrics
from store import make_engine
from store.models import metadata
from tests.e2e.conftest import E2E
from tests.e2e.insights_support import (
    backfill,
    hubspot_contacts,
    refresh_insights,
    salesforce_contacts,
    seeded_orders_of,
)
from tests.e2e.test_cli_sync import cli

HUBSPOT_INSIGHTS = {
    "b2c_ltv",
    "b2c_order_count",
    "b2c_aov",
    "b2c_last_order_date",
    "b2c_trailing_12m_spend",
    "b2c_rfm_code",
    "b2c_rfm_segment",
    "b2c_lifecycle_stage",
    "b2c_vip",
    "b2c_lead_score",
    "b2c_lead_tier",
    "b2c_loyalty_tier",
    "b2c_segments",
}


def _vip_candidate(e2e: E2E) -> tuple[str, Decimal]:
    """A customer in both CRMs, with orders, below the VIP threshold."""
    hubspot, salesforce = hubspot_contacts(e2e), salesforce_contacts(e2e)
    now = datetime.now(UTC)
    for key in sorted(set(hubspot) & set(salesforce)):
        orders = seeded_orders_of(e2e, key)
        if not orders:
            continue
        spend = customer_metrics(orders, now=now, settings=e2e.config.insights).trailing_spend
        if Decimal(0) < spend < Decimal(900):
            return key, spend
    raise AssertionError("the seed has no customer below the VIP threshold in both CRMs")


def _new_order(e2e: E2E, key: str, amount: Decimal) -> None:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    e2e.stack.b2connect.admin_create(
        "orders",
        {
            "customerId": key,
            "orderNumber": "B2C-VIP-000001",
            "status": "confirmed",
            "paymentStatus": "paid",
            "subtotal": float(amount),
            "totalAmount": float(amount),
            "currency": "EUR",
            "createdAt": now,
            "updatedAt": now,
            "items": [],
        },
    )


def _firings(e2e: E2E) -> list[tuple[str, str, str]]:
    engine = make_engine(str(e2e.config.state_url))
    try:
        with engine.connect() as conn:
            table = metadata.tables["rule_firings"]
            rows = conn.execute(sa.select(table.c.customer_key, table.c.rule, table.c.transition))
            return [tuple(r) for r in rows]
    finally:
        engine.dispose()


def test_backfill_carries_the_computed_fields_to_both_crms(e2e: E2E) -> None:
    """After a backfill, HubSpot and Salesforce contacts hold LTV, RFM, stage and VIP."""
    backfill(e2e)

    hubspot, salesforce = hubspot_contacts(e2e), salesforce_contacts(e2e)
    now = datetime.now(UTC)
    checked = 0
    for key in sorted(set(hubspot) & set(salesforce)):
        orders = seeded_orders_of(e2e, key)
        if not orders:
            continue
        expected = customer_metrics(orders, now=now, settings=e2e.config.insights)
        props, fields = hubspot[key]["properties"], salesforce[key]
        assert Decimal(props["b2c_ltv"]) == expected.lifetime_value
        assert Decimal(str(fields["LTV__c"])) == expected.lifetime_value
        assert int(props["b2c_order_count"]) == expected.order_count
        assert props["b2c_rfm_segment"] == fields["RFM_Segment__c"]
        assert props["b2c_lifecycle_stage"] == fields["Lifecycle_Stage__c"]
        assert (props["b2c_vip"] == "true") is (expected.trailing_spend >= 1000)
        assert fields["VIP__c"] is (expected.trailing_spend >= 1000)
        checked += 1
    assert checked >= 5


def test_first_refresh_is_a_baseline_that_fires_no_rule(e2e: E2E) -> None:
    """Backfilling history does not send every existing VIP a welcome task."""
    backfill(e2e)

    assert _firings(e2e) == []
    assert e2e.records("hubspot", "tasks") == []


def test_new_order_to_vip_sends_only_the_changed_fields(e2e: E2E) -> None:
    """A VIP-making order updates that one contact's insight fields and nothing else."""
    backfill(e2e)
    key, spend = _vip_candidate(e2e)
    _new_order(e2e, key, Decimal(1000) - spend + Decimal(50))
    e2e.stack.hubspot.calls.clear()

    e2e.sync()
    summary = refresh_insights(e2e)

    assert summary.pushed["customers-to-hubspot"]["written"] == 1
    assert summary.pushed["customers-to-salesforce"]["written"] == 1
    assert hubspot_contacts(e2e)[key]["properties"]["b2c_vip"] == "true"
    assert salesforce_contacts(e2e)[key]["VIP__c"] is True
    calls = e2e.calls("hubspot")
    assert calls.get("POST /crm/v3/objects/{object_type}/batch/update", 0) == 1  # the contact
    engine = make_engine(str(e2e.config.state_url))
    with engine.connect() as conn:
        events = search(
            conn,
            KeyRing.from_env(),
            Filters(action="crm.write", pipeline="insights:customers-to-hubspot"),
        )
    engine.dispose()
    written = [e for e in events if e.record_key == key]
    changed = set(written[-1].changed_fields)
    assert {"b2c_vip", "b2c_ltv", "b2c_order_count"} <= changed <= HUBSPOT_INSIGHTS


def test_vip_rule_fires_once_per_transition(e2e: E2E) -> None:
    """Becoming VIP creates one task and one list/campaign membership per CRM; re-runs fire nothing."""
    backfill(e2e)
    key, spend = _vip_candidate(e2e)
    _new_order(e2e, key, Decimal(1000) - spend + Decimal(50))

    e2e.sync()
    first = refresh_insights(e2e)
    e2e.sync()
    second = refresh_insights(e2e)

    assert first.fired == {"vip": 1}
    assert sum(second.fired.values()) == 0
    assert [(k, r) for k, r, _t in _firings(e2e)] == [(key, "vip")]
    contact_id = hubspot_contacts(e2e)[key]["id"]
    tasks = e2e.records("hubspot", "tasks")
    assert len(tasks) == 1
    assert tasks[0]["properties"]["hs_task_subject"].startswith("New VIP")
    vip_list = next(x for x in e2e.stack.hubspot.lists.lists.values() if x.name == "B2C VIP")
    assert list(vip_list.members) == [contact_id]
    sf_contact = salesforce_contacts(e2e)[key]["Id"]
    members = [m for m in e2e.records("salesforce", "CampaignMember") if not m["IsDeleted"]]
    assert [m["ContactId"] for m in members] == [sf_contact]
    sf_tasks = [t for t in e2e.records("salesforce", "Task") if t["WhoId"] == sf_contact]
    assert len(sf_tasks) == 1
    assert sf_tasks[0]["Priority"] == "High"


def test_cli_writes_the_monthly_html_report(e2e: E2E, tmp_path: Path) -> None:
    """`b2sync report monthly --format html` writes a page with both charts and says where."""
    backfill(e2e)
    out = tmp_path / "report.html"
    month = datetime.now(UTC).strftime("%Y-%m")

    result = cli(e2e, "report", "monthly", "--month", month, "--format", "html", "--output",
                 str(out), "--config", str(e2e.config_path))  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    assert out.read_text(encoding="utf-8").count("<svg") == 2


def test_cli_explains_one_customer_by_email(e2e: E2E) -> None:
    """`b2sync insights show --email` lists the counted orders and the thresholds applied."""
    backfill(e2e)
    key, _spend = _vip_candidate(e2e)
    assert e2e.stack.seed_data is not None
    email = next(c["email"] for c in e2e.stack.seed_data.customers if c["id"] == key)

    result = cli(e2e, "insights", "show", "--email", email, "--config", str(e2e.config_path))

    assert result.returncode == 0, result.stderr
    assert f"Customer {key}" in result.stdout
    for order in seeded_orders_of(e2e, key):
        assert order["id"] in result.stdout
    assert "VIP: no (12-month spend" in result.stdout
    assert "RFM " in result.stdout


def test_one_cli_sync_ends_with_the_insights_pass(e2e: E2E) -> None:
    """`b2sync sync` runs the insights pass at its end: contacts carry LTV without a refresh."""
    result = cli(e2e, "sync", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr
    assert "customers recomputed" in result.stdout
    hubspot = hubspot_contacts(e2e)
    with_orders = [k for k in hubspot if seeded_orders_of(e2e, k)]
    assert with_orders and all(hubspot[k]["properties"].get("b2c_ltv") for k in with_orders)
