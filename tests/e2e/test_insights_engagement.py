"""End to end: email engagement set in HubSpot is read back and moves the lead score."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from connectors.records import WriteItem
from insights.refresh import InsightsRefresh, RefreshSummary
from tests.e2e.conftest import E2E
from tests.e2e.insights_support import (
    backfill,
    hubspot_contacts,
    salesforce_contacts,
    seeded_orders_of,
)

BATCH_READ = "POST /crm/v3/objects/{object_type}/batch/read"


def _refresh_now(e2e: E2E) -> RefreshSummary:
    """An incremental pass that reads engagement whatever the interval."""
    runner = e2e.runner()
    try:
        refresh = InsightsRefresh.for_runner(runner)
        settings = refresh.config.insights.model_copy(update={"engagement_every_minutes": 0})
        config = refresh.config.model_copy(update={"insights": settings})
        [summary] = dataclasses.replace(refresh, config=config).run()
        return summary
    finally:
        runner.close()


def _inactive(e2e: E2E, key: str, now: datetime) -> bool:
    """No order in the last 30 days (the lead score's no-activity penalty applies)."""
    dates = [
        datetime.fromisoformat(o["createdAt"].replace("Z", "+00:00"))
        for o in seeded_orders_of(e2e, key)
    ]
    return not dates or now - max(dates) > timedelta(days=30)


def test_opens_and_clicks_set_in_hubspot_raise_the_lead_score(e2e: E2E) -> None:
    """3 opens and 1 click today: +25 points (and no inactivity penalty) in both CRMs."""
    backfill(e2e)
    now = datetime.now(UTC)
    contacts = hubspot_contacts(e2e)
    key = next(k for k in sorted(contacts) if k in salesforce_contacts(e2e))
    before = int(contacts[key]["properties"]["b2c_lead_score"])
    stamp = now.isoformat().replace("+00:00", "Z")
    e2e.stack.hubspot.admin_patch(
        "contacts",
        contacts[key]["id"],
        {
            "properties": {
                "hs_email_delivered": "4",
                "hs_email_open": "3",
                "hs_email_click": "1",
                "hs_email_last_open_date": stamp,
                "hs_email_last_click_date": stamp,
            }
        },
    )
    e2e.stack.hubspot.calls.clear()

    summary = _refresh_now(e2e)

    expected = before + 3 * 5 + 10 + (20 if _inactive(e2e, key, now) else 0)
    assert (summary.engaged, summary.recomputed) == (1, 1)
    assert int(hubspot_contacts(e2e)[key]["properties"]["b2c_lead_score"]) == expected
    assert int(salesforce_contacts(e2e)[key]["Lead_Score__c"]) == expected
    assert e2e.calls("hubspot")[BATCH_READ] == -(-len(contacts) // 100)


def test_engagement_properties_are_read_only_for_apps(e2e: E2E) -> None:
    """An app cannot set HubSpot's email counters; only HubSpot (the admin API) can."""
    backfill(e2e)
    contacts = hubspot_contacts(e2e)
    key = sorted(contacts)[0]
    runner = e2e.runner()
    try:
        hubspot = runner.connector("hubspot")
        [result] = hubspot.write("contacts", [WriteItem(key, {"hs_email_open": "9"})])
    finally:
        runner.close()
    assert not result.ok
    assert result.error is not None and "READ_ONLY" in (result.error.code + result.error.message)
