"""The sync commands as an operator runs them: console script, config file, emulators."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import E2E, MASTER_KEY, by_key

B2SYNC = shutil.which("b2sync", path=str(Path(sys.executable).parent)) or "b2sync"


def cli(e2e: E2E, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
    env.update(e2e.stack.env())
    env["B2SYNC_MASTER_KEY"] = MASTER_KEY
    return subprocess.run(
        [B2SYNC, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_dry_run_plans_without_writing(e2e: E2E) -> None:
    """sync --dry-run --json lists planned creates with values and writes nothing."""
    result = cli(
        e2e, "sync", "customers-to-hubspot", "--dry-run", "--json", "--config", str(e2e.config_path)
    )
    assert result.returncode == 0, result.stderr
    [summary] = json.loads(result.stdout)
    creates = [row for row in summary["plan"] if row["action"] == "create"]
    assert creates and all("email" in row["fields"] for row in creates)
    assert not by_key(e2e.records("hubspot", "contacts"), "b2connect_id")


def test_sync_then_deadletters_list_and_retry(e2e: E2E) -> None:
    """sync writes, deadletters list shows the parked records by field, retry replays them."""
    result = cli(e2e, "sync", "customers-to-hubspot", "--json", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr
    [summary] = json.loads(result.stdout)
    assert summary["status"] == "succeeded" and summary["counts"]["written"] > 0
    listed = cli(e2e, "deadletters", "list", "--json", "--config", str(e2e.config_path))
    rows = json.loads(listed.stdout)
    assert rows and {r["error_field"] for r in rows} == {"email"}
    assert all("@" not in str(r["error_message"]) for r in rows), "no personal data in the list"
    retried = cli(e2e, "deadletters", "retry", "--config", str(e2e.config_path))
    assert retried.returncode == 1  # invalid emails still fail: the exit code says so
    assert "still failing" in retried.stdout


def test_mapping_preview_prints_the_payload(e2e: E2E, tmp_path: Path) -> None:
    """mapping preview maps one JSON record, lines included, without any system."""
    record = {
        "id": "o-1", "orderNumber": "", "currency": "eur", "totalAmount": 12.345,
        "status": "shipped", "customerId": "c-1",
        "items": [{"id": "l-1", "productName": " Tee ", "quantity": 2, "unitPrice": 9.5}],
    }  # fmt: skip
    path = tmp_path / "order.json"
    path.write_text(json.dumps(record))
    result = cli(
        e2e,
        "mapping",
        "preview",
        "-p",
        "orders-to-hubspot",
        "-r",
        str(path),
        "--config",
        str(e2e.config_path),
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["payload"] == {
        "hs_order_name": "o-1", "hs_currency_code": "EUR", "hs_total_price": "12.35",
        "hs_fulfillment_status": "Shipped",
    }  # fmt: skip
    assert out["lines"] == [{"name": "Tee", "hs_sku": None, "quantity": 2, "price": "9.50"}]


def test_run_once_syncs_every_pipeline(e2e: E2E) -> None:
    """b2sync run --once runs every enabled pipeline on the scheduler's code path."""
    result = cli(e2e, "run", "--once", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr
    assert by_key(e2e.records("hubspot", "orders"), "b2connect_id")
    assert by_key(e2e.records("salesforce", "B2C_Order__c"), "B2Connect_Id__c")
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    finished = [e for e in events if e.get("event") == "run.finished"]
    assert len(finished) == 6 and all(e["status"] == "succeeded" for e in finished)
