"""What ops read: /healthz, /readyz, /metrics, the status API and `b2sync status --json`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from emulators.stack import EmulatorStack
from tests.daemon.conftest import B2SYNC, TOKEN, DaemonProcess, running_daemon, wait_for

#: emulator -> the daemon's connection name in config.yaml
CONNECTIONS = {"b2connect": "shop", "hubspot": "hubspot", "salesforce": "salesforce"}


@pytest.fixture(scope="module")
def shared(
    stack: EmulatorStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    """One backfilled daemon for the read-only checks of this module."""
    with running_daemon(stack, tmp_path_factory.mktemp("observed")) as proc:
        yield proc


def _api_calls(daemon: DaemonProcess) -> dict[str, dict[str, int]]:
    text = daemon.http.get(f"{daemon.url}/metrics", timeout=10).text
    out: dict[str, dict[str, int]] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "b2sync_api_calls":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    by_endpoint = out.setdefault(sample.labels["connector"], {})
                    by_endpoint[sample.labels["endpoint"]] = int(sample.value)
    return out


def _emulator_calls(daemon: DaemonProcess) -> dict[str, dict[str, int]]:
    out = {}
    for system, connection in CONNECTIONS.items():
        emu = getattr(daemon.stack, system)
        answer = requests.get(
            f"{emu.url}/_emulator/calls", timeout=10, verify=getattr(emu, "ca_file", True)
        )
        out[connection] = dict(answer.json())
    return out


def _writes(calls: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {
        conn: {k: v for k, v in endpoints.items() if not k.startswith("GET ")}
        for conn, endpoints in calls.items()
    }


def test_healthz_answers(shared: DaemonProcess) -> None:
    """/healthz says ok while the process lives."""
    answer = shared.http.get(f"{shared.url}/healthz", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_readyz_reports_store_and_scheduler(shared: DaemonProcess) -> None:
    """/readyz is 200 with the store reachable, the scheduler running and nothing stuck."""
    answer = shared.http.get(f"{shared.url}/readyz", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"ready": True, "store": True, "scheduler": True, "stuck": []}


def test_metrics_api_calls_match_the_emulators(shared: DaemonProcess) -> None:
    """/metrics parses, and its API-call counters equal the emulators' own write-call counts."""
    wait_for(shared.all_synced, 30, "idle")
    wait_for(lambda: _writes(_api_calls(shared)) == _writes(_emulator_calls(shared)), 10, "match")
    assert _writes(_api_calls(shared))["hubspot"]


def test_metrics_count_records_per_pipeline(shared: DaemonProcess) -> None:
    """Records read per pipeline and object in /metrics equal what the runs recorded."""
    text = shared.http.get(f"{shared.url}/metrics", timeout=10).text
    read = {
        s.labels["pipeline"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "b2sync_records"
        for s in f.samples
        if s.labels.get("outcome") == "read" and s.labels["object"]
    }
    runs: dict[str, int] = {}
    for run in shared.runs():
        runs[run["pipeline"]] = runs.get(run["pipeline"], 0) + run["records_read"]
    assert read == runs


def test_status_api_needs_the_token(shared: DaemonProcess) -> None:
    """/api/status is 401 without the bearer token and 200 with it."""
    assert shared.http.get(f"{shared.url}/api/status", timeout=10).status_code == 401
    bad = {"Authorization": "Bearer wrong"}
    assert shared.http.get(f"{shared.url}/api/status", headers=bad, timeout=10).status_code == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    answer = shared.http.get(f"{shared.url}/api/status", headers=good, timeout=10)
    assert answer.status_code == 200
    assert {p["pipeline"] for p in answer.json()["pipelines"]} >= {"customers-to-hubspot"}


def test_openapi_describes_the_status_api(shared: DaemonProcess) -> None:
    """/api/openapi.json documents GET /api/status with bearer security."""
    doc = shared.http.get(f"{shared.url}/api/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.")
    assert "get" in doc["paths"]["/api/status"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_status_command_reads_the_store(shared: DaemonProcess) -> None:
    """`b2sync status --json` (while the daemon runs) shows each pipeline's last run."""
    done = subprocess.run(
        [B2SYNC, "status", "--json", "--config", str(shared.config_path)],
        env=shared.env(), capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    pipelines = {p["pipeline"]: p for p in status["pipelines"]}
    assert pipelines["customers-to-hubspot"]["last_run"]["status"] == "succeeded"
    assert pipelines["customers-to-hubspot"]["last_run"]["records_read"] > 0
    assert status["dead_letters_pending"] == sum(
        p["dead_letters_pending"] for p in pipelines.values()
    )


def test_metrics_show_rate_limit_headroom(shared: DaemonProcess) -> None:
    """/metrics carries the API budget left that each CRM's headers reported."""
    text = shared.http.get(f"{shared.url}/metrics", timeout=10).text
    seen = {
        (s.labels["connector"], s.labels["window"])
        for f in text_string_to_metric_families(text)
        if f.name == "b2sync_api_budget_remaining"
        for s in f.samples
    }
    assert ("hubspot", "10s") in seen
    assert ("salesforce", "daily") in seen


def test_metrics_show_the_records_in_memory_and_their_bound(shared: DaemonProcess) -> None:
    """/metrics shows the records the push runs hold (none once idle), the bound
    (``B2SYNC_RECORDS_IN_MEMORY``, unset here: the default) and how often runs drained."""
    from sync.push.in_hand import DEFAULT_RECORDS_IN_MEMORY

    wait_for(shared.all_synced, 30, "idle")
    text = shared.http.get(f"{shared.url}/metrics", timeout=10).text
    values = {
        s.name: s.value
        for f in text_string_to_metric_families(text)
        if f.name.startswith("b2sync_records_in_memory")
        for s in f.samples
    }
    assert values == {
        "b2sync_records_in_memory": 0.0,
        "b2sync_records_in_memory_bound": float(DEFAULT_RECORDS_IN_MEMORY),
        "b2sync_records_in_memory_drains_total": 0.0,
    }
