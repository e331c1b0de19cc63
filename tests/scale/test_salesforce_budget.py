"""One Salesforce org, three worker processes: the org's budget is shared through Redis.

The org (the emulator) counts what b2sync must respect: its rolling ``DailyApiRequests``
usage and the calls in flight at once (``ConcurrentPerOrgLongTxn``: at most N long-running
calls per org, refused with 403 beyond). Per-process budgets see only their own calls in
flight, so three workers each with a few calls out exceed the org's cap; each also spends
until its own last ``api-usage`` header says the share is gone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulators.salesforce import SalesforceEmulator
from tests.scale.kit import fleet

#: the org's (and the deployment's) cap on calls in flight at once, for the test
ORG_SLOTS = 2
#: the org's daily API allocation and the share b2sync may use (``daily_share: 0.5``)
DAILY_LIMIT = 120
SHARE = DAILY_LIMIT // 2

SALESFORCE = """\
  salesforce:
    type: salesforce
    instance_url: ${B2SYNC_SALESFORCE_URL}
    ca_file: ${B2SYNC_SALESFORCE_CA_FILE}
    auth: {method: session, session_id: "${B2SYNC_SALESFORCE_SESSION_ID}"}
    daily_share: 0.5
"""


def _pipeline(stream: str, sobject: str, field: str) -> str:
    """A pipeline of ``stream`` to ``sobject`` in batches of 4 with one mapped field."""
    return f"""\
  - name: {stream}-to-salesforce
    b2connect: {{connection: shop, stream: {stream}}}
    crm: {{connection: salesforce, object: {sobject}, id_property: B2Connect_Id__c}}
    batch_size: 4
    schedule: {{every: 1h}}
    fields:
      - {field}
"""


SF_PIPELINES = """\
  - name: customers-to-salesforce
    b2connect: {connection: shop, stream: customers}
    crm: {connection: salesforce, object: Contact, id_property: B2Connect_Id__c}
    match_key: {b2connect: email, crm: Email}
    batch_size: 4
    schedule: {every: 1h}
    fields:
      - {b2connect: email, crm: Email, transform: [email], required: true}
      - {b2connect: lastName, crm: LastName, transform: [strip], default: "(unknown)"}
""" + (
    _pipeline("companies", "Account", "{b2connect: name, crm: Name, transform: [strip]}")
    + _pipeline(
        "orders",
        "B2C_Order__c",
        "{b2connect: orderNumber, crm: Name, transform: [{coalesce: [orderNumber, id]}]}",
    )
)

PIPELINES = ("customers-to-salesforce", "companies-to-salesforce", "orders-to-salesforce")


def test_three_workers_share_one_orgs_concurrency_and_daily_share(
    tmp_path: Path, redis_url: str
) -> None:
    """3 workers run a tenant's 3 Salesforce pipelines at once against one org that allows
    ``ORG_SLOTS`` calls in flight and whose share is ``SHARE`` calls: the org never refuses a
    call for concurrency, b2sync's calls stay within the share (counted by the org), and the
    runs that met the spent share end ``paused`` saying so."""
    org = SalesforceEmulator(
        daily_limit=DAILY_LIMIT, long_running_s=0.0, long_running_limit=ORG_SLOTS
    )
    org.set_latency(120)  # every call stays in flight a while, as over the internet
    org.start(0)
    try:
        with fleet(tmp_path, redis_url, tenants=1, customers=60, page_size=4, connections=SALESFORCE,
                   extra=SF_PIPELINES) as fl:  # fmt: skip
            fl.extra_env.update(
                T01_B2SYNC_SALESFORCE_URL=org.url,
                T01_B2SYNC_SALESFORCE_CA_FILE=org.ca_file,
                T01_B2SYNC_SALESFORCE_SESSION_ID=org.session_id,
                B2SYNC_SALESFORCE_CONCURRENCY=str(ORG_SLOTS),
            )
            for i in range(3):
                fl.start_worker(f"w{i}")
            fl.schedule_once()
            fl.until_ran("t01", PIPELINES)
            latest = fl.latest_runs("t01")
            stats: dict[str, Any] = org.stats()
    finally:
        org.stop()
    assert stats["long_running"]["rejected"] == 0, stats["long_running"]
    assert stats["long_running"]["peak"] < ORG_SLOTS, stats["long_running"]
    assert stats["api_usage"]["used"] <= SHARE, stats["api_usage"]
    paused = {p: e for p, (status, e) in latest.items() if status == "paused"}
    assert paused, f"the share ran out before the work: {latest}"
    assert all("share (50%)" in e for e in paused.values()), paused
