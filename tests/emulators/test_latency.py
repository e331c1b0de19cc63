"""Emulator latency and limit counters: per-route delays that overlap, 429s counted,
Salesforce's concurrent long-running calls refused and counted, set from the CLI or env."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hubspot
import pytest
import requests
from simple_salesforce.exceptions import SalesforceRefusedRequest
from typer.testing import CliRunner

from b2sync.demo.emulators import app as emulators_app
from emulators import LatencyError, LatencyPlan
from emulators.hubspot import HubSpotEmulator
from emulators.salesforce import SalesforceEmulator
from emulators.stack import LATENCY_ENV, EmulatorStack, latency_from_env
from tests.concurrency import together
from tests.fixtures.hubspot import hubspot_client_for
from tests.fixtures.salesforce import salesforce_client, salesforce_session

Factory = Callable[..., HubSpotEmulator]
ROOT = Path(__file__).resolve().parents[2]


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@contextmanager
def _latency(emu: HubSpotEmulator | SalesforceEmulator, plan: Any) -> Iterator[None]:
    emu.set_latency(plan)
    try:
        yield
    finally:
        emu.set_latency(None)


def test_plan_matches_method_and_glob_first_then_default() -> None:
    """The first matching key wins; `default` covers the rest; a method prefix narrows."""
    plan = LatencyPlan.parse(
        {
            "default": 250,
            "POST /crm/v3/objects/*/batch/*": 600,
            "/crm/v3/objects/*": {"dist": "uniform", "min_ms": 10, "max_ms": 20},
        }
    )
    assert plan.delay_s("POST", "/crm/v3/objects/contacts/batch/upsert") == 0.6
    assert 0.01 <= plan.delay_s("GET", "/crm/v3/objects/contacts/batch/read") <= 0.02
    assert plan.delay_s("GET", "/account-info/v3/details") == 0.25
    assert LatencyPlan.parse(None).delay_s("GET", "/x") == 0.0


def test_lognormal_draws_follow_median_and_p95() -> None:
    """Half the draws fall under the median and about 95% under the p95 (seeded)."""
    plan = LatencyPlan.parse(
        {"default": {"dist": "lognormal", "median_ms": 250, "p95_ms": 600}}, seed=7
    )
    draws = [plan.delay_s("GET", "/") for _ in range(4000)]
    under_median = sum(d < 0.25 for d in draws) / len(draws)
    under_p95 = sum(d < 0.6 for d in draws) / len(draws)
    assert 0.47 < under_median < 0.53
    assert 0.93 < under_p95 < 0.97


@pytest.mark.parametrize(
    "raw",
    [
        {"default": {"dist": "gamma", "ms": 1}},
        {"default": {"dist": "lognormal", "median_ms": 300}},
        {"default": {"dist": "lognormal", "median_ms": 300, "p95_ms": 100}},
        {"default": -5},
        {"default": "fast"},
    ],
)
def test_bad_plans_are_refused_with_the_key(raw: dict[str, Any]) -> None:
    with pytest.raises(LatencyError, match="'default'"):
        LatencyPlan.parse(raw)


def test_slow_calls_overlap_instead_of_queueing(hubspot_emulator: HubSpotEmulator) -> None:
    """Eight SDK calls at 1 s latency are all in flight at once: the server never
    serialises them (counted by the emulator, not timed)."""
    client = hubspot_client_for(hubspot_emulator)
    with _latency(hubspot_emulator, {"GET /crm/v3/objects/*": 1000}):
        errors = together(8, lambda: client.crm.contacts.basic_api.get_page(limit=1), timeout=60)
    assert not errors
    stats = hubspot_emulator.stats()
    assert stats["peak_in_flight"] == 8
    assert stats["in_flight"] == 0


def test_latency_changes_at_runtime_through_the_admin_route(
    hubspot_emulator: HubSpotEmulator,
) -> None:
    """PUT /_emulator/latency replaces the plan (GET and /stats show it); a bad plan is a
    400 naming the problem and leaves the old plan in place."""
    base = hubspot_emulator.url
    try:
        plan = {"default": 5, "/crm/v3/objects/*/batch/*": {"dist": "fixed", "ms": 7}}
        answer = requests.put(f"{base}/_emulator/latency", json=plan, timeout=5)
        assert answer.status_code == 200
        assert requests.get(f"{base}/_emulator/latency", timeout=5).json() == {
            "default": 5.0,
            "/crm/v3/objects/*/batch/*": 7.0,
        }
        bad = requests.put(f"{base}/_emulator/latency", json={"default": {"dist": "x"}}, timeout=5)
        assert bad.status_code == 400 and "unknown dist" in bad.text
        stats = requests.get(f"{base}/_emulator/stats", timeout=5).json()
        assert stats["latency"]["default"] == 5.0
    finally:
        hubspot_emulator.set_latency(None)


def test_hubspot_counts_the_429s_it_sends(hubspot_emulator_factory: Factory) -> None:
    """Past its 10-second limit the portal answers 429 TEN_SECONDLY_ROLLING and counts each
    one per route on /_emulator/stats."""
    emu = hubspot_emulator_factory(rate_limit_per_10s=3)
    client = hubspot_client_for(emu)
    refused = 0
    for _ in range(5):
        try:
            client.crm.contacts.basic_api.get_page(limit=1)
        except hubspot.crm.contacts.ApiException as exc:
            assert exc.status == 429
            refused += 1
    stats = requests.get(f"{emu.url}/_emulator/stats", timeout=5).json()
    assert refused == 2
    assert stats["rejected_429_total"] == 2
    assert stats["rejected_429"] == {"GET /crm/v3/objects/{object_type}": 2}
    assert stats["limits"] == {"per_10s": 3, "window_used": 3, "daily": 650_000, "daily_used": 3}


def test_salesforce_refuses_calls_past_the_long_running_limit(
    salesforce_emulator: SalesforceEmulator,
) -> None:
    """With `long_running_limit` calls in flight past `long_running_s`, the next SOQL call is
    a 403 ConcurrentPerOrgLongTxn through simple-salesforce, counted on /_emulator/stats."""
    emu = salesforce_emulator
    emu.long_running_s, emu.long_running_limit = 0.0, 2
    slow = salesforce_client(emu)
    try:
        with _latency(emu, {"*/query*": 2000}):
            threads = [
                threading.Thread(target=slow.query, args=("SELECT Id FROM Contact",))
                for _ in range(2)
            ]
            for t in threads:
                t.start()
            _wait_for(lambda: len(emu.in_flight) == 2, "two slow calls in flight")
            with pytest.raises(SalesforceRefusedRequest) as caught:
                salesforce_client(emu).describe()
            for t in threads:
                t.join(timeout=30)
    finally:
        emu.long_running_s, emu.long_running_limit = 20.0, 25
    assert "ConcurrentPerOrgLongTxn" in str(caught.value)
    with salesforce_session(emu) as http:
        stats = http.get(f"{emu.url}/_emulator/stats", timeout=5).json()
    assert stats["long_running"]["rejected"] == 1
    assert stats["long_running"]["peak"] == 2
    assert stats["calls"]["GET /services/data/{version}/query"] == 2


def test_stack_takes_latency_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """B2SYNC_EMULATOR_LATENCY sets each system's plan; an unknown system is refused."""
    monkeypatch.setenv(LATENCY_ENV, json.dumps({"hubspot": 250, "salesforce": {"default": 500}}))
    stack = EmulatorStack(customers=0)
    assert stack.hubspot.latency.to_json() == {"default": 250.0}
    assert stack.salesforce.latency.to_json() == {"default": 500.0}
    assert stack.b2connect.latency.to_json() == {}
    with pytest.raises(Exception, match="unknown systems"):
        EmulatorStack(customers=0, latency={"hubspott": 1})
    assert latency_from_env({LATENCY_ENV: ""}) == {}


def test_cli_latency_option_is_validated() -> None:
    """`emulators up --latency` with a bad spec is a usage error (exit 2) naming it."""
    result = CliRunner().invoke(
        emulators_app, ["up", "--customers", "0", "--latency", "hubspot=fast", "--duration", "0"]
    )
    assert result.exit_code == 2
    assert "expected milliseconds" in result.output


def test_cli_latency_option_reaches_the_emulators(tmp_path: Path) -> None:
    """`b2sync emulators up --latency hubspot=40 --latency 'b2connect={...}'` (a subprocess)
    serves with those plans, read back from the running emulators' admin route."""
    state = tmp_path / "state.json"
    uniform = {"default": {"dist": "uniform", "min_ms": 1, "max_ms": 2}}
    command = [
        sys.executable, str(ROOT / "daemon.py"), "emulators", "up",
        "--customers", "0", "--state-file", str(state),
        "--latency", "hubspot=40", "--latency", f"b2connect={json.dumps(uniform)}",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        _wait_for(lambda: state.exists() or proc.poll() is not None, "the state file")
        urls = json.loads(state.read_text())
        seen = {
            system: requests.get(f"{urls[system]['url']}/_emulator/latency", timeout=5).json()
            for system in ("hubspot", "b2connect")
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert seen["hubspot"] == {"default": 40.0}
    assert seen["b2connect"] == {"default": {"dist": "uniform", "min_ms": 1.0, "max_ms": 2.0}}
