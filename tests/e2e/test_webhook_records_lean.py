"""Issue 18: a webhook's run of its named records (``Runner.run_records``) reads those records
and nothing else of B2Connect. The insights hook of a customers run reads the orders pipeline's
backlog ahead (every order it has not read yet, page by page, each page a ledger write); a
webhook's run of one customer beside a backfill did that too, once per webhook, queueing its
ledger writes behind the backfill's commits. Counted by the emulators, never timed."""

from __future__ import annotations

from tests.e2e.conftest import E2E, by_key

DELTA = "GET /api/crm/{entity}/delta"


def test_a_webhook_run_of_one_customer_reads_no_delta_feed(e2e: E2E) -> None:
    shop = e2e.stack.b2connect
    assert shop.admin_list("orders"), "the seed has orders the orders pipeline has not read"
    new = shop.admin_create("customers", {"email": "webhook.only@example.org"})
    runner = e2e.runner()
    try:
        before = shop.calls[DELTA]
        summaries = [
            runner.run_records(runner.config.pipeline(name), [str(new["id"])])
            for name in ("customers-to-hubspot", "customers-to-salesforce")
        ]
    finally:
        runner.close()
    assert all(s is not None and s.counts["written"] == 1 for s in summaries)
    assert shop.calls[DELTA] == before, "the webhook's run read a delta feed (orders ahead)"
    hubspot = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    salesforce = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    assert len(hubspot[str(new["id"])]) == 1
    assert len(salesforce[str(new["id"])]) == 1
