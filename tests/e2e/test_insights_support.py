"""End to end: tickets, NPS answers and Cases in the CRMs reach the customer profile, the
churn-risk segment, both CRMs' contact fields and the monthly report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.e2e.conftest import E2E
from tests.e2e.insights_support import (
    backfill,
    hubspot_contacts,
    hubspot_ticket,
    link_to_contact,
    salesforce_contacts,
)
from tests.e2e.test_cli_sync import cli


def _calm_buyers(e2e: E2E, n: int) -> list[str]:
    """Customers in both CRMs, buying and not in churn risk yet."""
    hubspot, salesforce = hubspot_contacts(e2e), salesforce_contacts(e2e)
    found = [
        key
        for key in sorted(set(hubspot) & set(salesforce))
        if hubspot[key]["properties"].get("b2c_lifecycle_stage") in ("customer", "active")
        and "churn_risk" not in (hubspot[key]["properties"].get("b2c_segments") or "")
    ]
    assert len(found) >= n, "the seed has too few active buyers in both CRMs"
    return found[:n]


def _nps(e2e: E2E, contact: str, score: int) -> None:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    props = {"hs_survey_type": "NPS", "hs_value": str(score), "hs_submission_timestamp": now}
    answer = e2e.stack.hubspot.admin_create("feedback_submissions", {"properties": props})["id"]
    link_to_contact(e2e, "feedback_submissions", str(answer), contact)


def _case(e2e: E2E, contact: str, status: str = "New") -> None:
    e2e.stack.salesforce.admin_create("Case", {"ContactId": contact, "Status": status,
                                               "Subject": "Defekt"})  # fmt: skip


def _fields(e2e: E2E, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return hubspot_contacts(e2e)[key]["properties"], salesforce_contacts(e2e)[key]


def test_tickets_nps_and_cases_reach_profile_segments_and_report(e2e: E2E, tmp_path: Path) -> None:
    """3 open HubSpot tickets, a detractor's NPS answer, Salesforce Cases: after the insights
    pass both CRMs hold ticket counts and NPS, the unhappy two are Churn-Risk, and the report
    shows this month's NPS and ticket load instead of "no data"."""
    backfill(e2e)
    tickets, detractor, cases = _calm_buyers(e2e, 3)
    hs = hubspot_contacts(e2e)
    sf = salesforce_contacts(e2e)
    for _ in range(3):
        hubspot_ticket(e2e, hs[tickets]["id"])
    hubspot_ticket(e2e, hs[tickets]["id"], stage="4")  # closed: not open
    _nps(e2e, hs[detractor]["id"], 4)
    _case(e2e, sf[cases]["Id"])
    _case(e2e, sf[cases]["Id"], status="Closed")

    # a full pass reads the CRMs at once (otherwise at most every support_every_minutes)
    result = cli(e2e, "insights", "refresh", "--full", "--config", str(e2e.config_path))

    assert result.returncode == 0, result.stderr
    props, fields = _fields(e2e, tickets)
    assert (props["b2c_open_tickets"], props["b2c_recent_tickets"]) == ("3", "4")
    assert (fields["Open_Tickets__c"], fields["Recent_Tickets__c"]) == (3, 4)
    assert "churn_risk" in props["b2c_segments"] and "churn_risk" in fields["Segments__c"]
    props, fields = _fields(e2e, detractor)
    assert (props["b2c_nps_score"], props["b2c_nps_category"]) == ("4", "detractor")
    assert (fields["NPS_Score__c"], fields["NPS_Category__c"]) == (4, "detractor")
    assert "churn_risk" in props["b2c_segments"]
    props, fields = _fields(e2e, cases)  # Cases from Salesforce reach HubSpot too
    assert (props["b2c_open_tickets"], props["b2c_recent_tickets"]) == ("1", "2")
    assert fields["Open_Tickets__c"] == 1 and not props.get("b2c_nps_score")
    assert "churn_risk" not in props["b2c_segments"]  # one open case is not a risk

    shown = cli(e2e, "insights", "show", "--customer", detractor,
                "--config", str(e2e.config_path))  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "last NPS 4 (detractor)" in shown.stdout
    assert "churn risk when NPS < 7 or open tickets ≥ 3: yes" in shown.stdout

    out = tmp_path / "report.md"
    month = datetime.now(UTC).strftime("%Y-%m")
    report = cli(e2e, "report", "monthly", "--month", month, "-o", str(out),
                 "--config", str(e2e.config_path))  # fmt: skip
    assert report.returncode == 0, report.stderr
    text = out.read_text(encoding="utf-8")
    assert "| NPS | -100 | 40 |" in text  # one detractor answer this month; target 40
    assert "| NPS answers | 1 | 0 | +1 |" in text
    assert "| Tickets opened | 6 | 0 | +6 |" in text
    assert "Open now: 4 tickets of 2 customers." in text
    assert "No data: no connected CRM has shared support tickets" not in text
