"""Are the emulators a bottleneck? Time their heaviest calls through the real SDKs.

    python bench/emulators.py [--rounds N] [--json PATH]

Measures, over N rounds each: a 100-input HubSpot batch upsert (hubspot-api-client), a
200-record Salesforce sObject Collections upsert (simple-salesforce over TLS), a 2,000-row
SOQL page, and a 500-change B2Connect delta page. Prints median and p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hubspot  # noqa: E402
from simple_salesforce import Salesforce  # noqa: E402

from emulators.b2connect import B2ConnectEmulator  # noqa: E402
from emulators.hubspot import HubSpotEmulator  # noqa: E402
from emulators.salesforce import SalesforceEmulator  # noqa: E402
from emulators.seed import generate  # noqa: E402


def timed(fn: Callable[[int], object], rounds: int) -> dict[str, float]:
    samples = []
    for i in range(rounds):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
        "rounds": rounds,
    }


def bench_hubspot(rounds: int) -> dict[str, float]:
    emu = HubSpotEmulator(rate_limit_per_10s=10**9, daily_limit=10**10).start()
    try:
        client = hubspot.Client.create(access_token=emu.token, host=emu.url, base_url=emu.url)
        client.crm.properties.core_api.create(
            "contacts",
            {"name": "b2connect_id", "label": "B2Connect id", "type": "string",
             "fieldType": "text", "groupName": "contactinformation", "hasUniqueValue": True},
        )  # fmt: skip
        batch = client.crm.contacts.batch_api

        def upsert(i: int) -> None:
            inputs = [
                {"idProperty": "b2connect_id", "id": f"k{i}-{n}", "objectWriteTraceId": f"k{i}-{n}",
                 "properties": {"b2connect_id": f"k{i}-{n}", "email": f"p{i}.{n}@example.com",
                                "firstname": "Bench", "lastname": f"Person {n}"}}
                for n in range(100)
            ]  # fmt: skip
            result = batch.upsert({"inputs": inputs})
            assert result is not None and len(result.results) == 100

        return timed(upsert, rounds)
    finally:
        emu.stop()


def bench_salesforce(rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    emu = SalesforceEmulator(daily_limit=10**9).start()
    try:
        session = requests.Session()
        session.trust_env = False
        session.verify = emu.ca_file
        sf = Salesforce(
            instance_url=emu.url, session_id=emu.session_id, version="59.0", session=session
        )

        def upsert(i: int) -> None:
            records = [
                {"attributes": {"type": "Contact"}, "B2Connect_Id__c": f"k{i}-{n}",
                 "LastName": f"Person {n}", "Email": f"p{i}.{n}@example.com"}
                for n in range(200)
            ]  # fmt: skip
            result = sf.restful(
                "composite/sobjects/Contact/B2Connect_Id__c",
                method="PATCH",
                json={"allOrNone": False, "records": records},
            )
            assert len(result) == 200 and all(r["success"] for r in result)

        collections = timed(upsert, rounds)

        def query(_i: int) -> None:
            result = sf.query("SELECT Id, Email, LastName FROM Contact ORDER BY Id LIMIT 2000")
            assert len(result["records"]) == 2000

        return collections, timed(query, max(5, rounds // 4))
    finally:
        emu.stop()


def bench_b2connect(rounds: int) -> dict[str, float]:
    emu = B2ConnectEmulator().start()
    try:
        emu.load(generate(customers=600, seed=1, tenant_id=emu.tenant_id))
        session = requests.Session()
        session.trust_env = False
        session.headers.update(
            {"Authorization": f"Bearer {emu.token_for()}", "X-Tenant-ID": emu.tenant_id}
        )

        def page(_i: int) -> None:
            answer = session.get(f"{emu.url}/api/crm/customers/delta", params={"batchSize": 500})
            assert len(answer.json()["changes"]) == 500

        return timed(page, rounds)
    finally:
        emu.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    collections, query = bench_salesforce(args.rounds)
    results = {
        "hubspot_batch_upsert_100": bench_hubspot(args.rounds),
        "salesforce_collection_upsert_200": collections,
        "salesforce_query_2000_rows": query,
        "b2connect_delta_page_500": bench_b2connect(args.rounds),
    }
    print(f"{'call':<36}{'median ms':>12}{'p95 ms':>10}{'rounds':>8}")
    for name, row in results.items():
        print(f"{name:<36}{row['median_ms']:>12}{row['p95_ms']:>10}{row['rounds']:>8}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
