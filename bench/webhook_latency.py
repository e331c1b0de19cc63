"""Webhook latency benchmark: a shopper edit in B2Connect → visible in the HubSpot emulator.

    python bench/webhook_latency.py [--events N] [--rate R] [--consent-delay S] [--json PATH]

Starts the emulators in this process and `b2sync run` as a subprocess (the shipped
config.yaml, a temporary SQLite store), waits for the backfill, points B2Connect's webhooks
at the daemon, then makes N customer edits (``admin_patch``, each fires a signed webhook)
at R per second, each on a different customer. A poller watches the HubSpot emulator's
admin API and records, per edit, the time until the new first name is visible there.
Prints p50/p95/max and writes them as JSON. Target: p95 < 2 s.

``--consent-delay S`` measures with a consent run in flight: the shop is backfilled with
``b2sync run --once`` first, HubSpot answers no batch status read and takes S seconds per
contact's status read, so the daemon's first consent run reads every contact one by one
for the whole measurement (the result says whether it was still running at the end).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators import FaultPlan  # noqa: E402
from emulators.stack import EmulatorStack  # noqa: E402

TOKEN = "bench-status-token"
POLL_S = 0.02
STATUS_READ = "GET /communication-preferences/v4/statuses/{email}"


def _slow_consent(delay_s: float) -> FaultPlan:
    """No batch status read (one call per contact), each status read ``delay_s`` long."""
    return FaultPlan.from_json(
        {
            "rules": [
                {"match": "POST /communication-preferences/v4/statuses/batch/read",
                 "kind": "status", "status": 403, "code": "MISSING_SCOPES"},
                {"match": STATUS_READ, "kind": "slow", "delay_s": delay_s},
            ]
        }
    )  # fmt: skip


def _consent_runs_finished(log_path: Path) -> int:
    text = log_path.read_text(encoding="utf-8", errors="replace")
    return text.count('"event": "consent.run_finished"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp: Path) -> Path:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("sqlite:///state/b2sync.db", f"sqlite:///{tmp}/state.db")
    text = text.replace(
        "  listen: 127.0.0.1:8765\n", "  listen: 127.0.0.1:8765\n  status_token: ${BENCH_TOKEN}\n"
    )
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        pause.wait(0.1)


def _synced(http: requests.Session, url: str) -> bool:
    try:
        answer = http.get(f"{url}/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
    except requests.ConnectionError:
        return False
    if answer.status_code != 200:
        return False
    return all(p["last_success_at"] and not p["running_since"] for p in answer.json()["pipelines"])


def _hubspot_names(stack: EmulatorStack) -> dict[str, str | None]:
    out = {}
    for contact in stack.hubspot.admin_list("contacts"):
        props = contact.get("properties", {})
        if props.get("b2connect_id"):
            out[str(props["b2connect_id"])] = props.get("firstname")
    return out


def measure(stack: EmulatorStack, events: int, rate: float) -> list[float]:
    """Fire ``events`` edits at ``rate``/s; latency (s) of each until visible in HubSpot."""
    synced = _hubspot_names(stack)
    keys = [c["id"] for c in stack.b2connect.admin_list("customers") if c["id"] in synced]
    if len(keys) < events:
        raise SystemExit(f"only {len(keys)} customers synced; raise --customers")
    outstanding: dict[str, tuple[str, float]] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def poll() -> None:
        while not done.wait(POLL_S):
            names = _hubspot_names(stack)
            now = time.perf_counter()
            with lock:
                for key, (value, started) in list(outstanding.items()):
                    if names.get(key) == value:
                        latencies.append(now - started)
                        del outstanding[key]

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    pause = threading.Event()
    for i, key in enumerate(keys[:events]):
        value = f"Bench{i}"
        with lock:
            outstanding[key] = (value, time.perf_counter())
        stack.b2connect.admin_patch("customers", key, {"firstName": value})
        pause.wait(1 / rate)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            if not outstanding:
                break
        pause.wait(0.1)
    done.set()
    poller.join()
    if outstanding:
        print(f"warning: {len(outstanding)} edits never became visible", file=sys.stderr)
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="edits per second")
    parser.add_argument("--customers", type=int, default=0, help="default: 1.5 x events")
    parser.add_argument(
        "--consent-delay", type=float, default=0.0,
        help="seconds per HubSpot consent status read; > 0 keeps a consent run in flight",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    customers = args.customers or max(50, int(args.events * 1.5))
    stack = EmulatorStack(
        customers=customers,
        seed=42,
        hubspot_kwargs={"rate_limit_per_10s": 10**9, "daily_limit": 10**10},
        salesforce_kwargs={"daily_limit": 10**9},
    )
    b2sync = shutil.which("b2sync", path=str(Path(sys.executable).parent)) or "b2sync"
    with stack, tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp))
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
        env.update(stack.env(), BENCH_TOKEN=TOKEN)
        env["B2SYNC_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
        log_path = Path(tmp) / "daemon.log"
        if args.consent_delay > 0:
            subprocess.run(
                [b2sync, "run", "--once", "--config", str(config)],
                env=env, capture_output=True, timeout=600, check=True,
            )  # fmt: skip
            stack.hubspot.faults = _slow_consent(args.consent_delay)
        log = log_path.open("wb")
        daemon = subprocess.Popen(
            [b2sync, "run", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            with requests.Session() as http:
                http.trust_env = False
                _wait(lambda: _synced(http, url), 180, "the backfill")
            if args.consent_delay > 0:
                _wait(lambda: stack.hubspot.calls[STATUS_READ] > 0, 60, "the consent run")
            stack.b2connect.webhook_url = f"{url}/webhooks/b2connect"
            latencies = measure(stack, args.events, args.rate)
            in_flight = args.consent_delay > 0 and _consent_runs_finished(log_path) == 0
        finally:
            stack.b2connect.webhook_url = None
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(timeout=60)
            log.close()
    result = {
        "events": args.events,
        "rate_per_s": args.rate,
        "visible": len(latencies),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(_percentile(latencies, 0.95), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "mean_s": round(statistics.fmean(latencies), 3) if latencies else None,
        "daemon_exit": code,
        "consent_delay_s": args.consent_delay,
        "consent_in_flight_at_end": in_flight,
    }
    print("webhook -> visible in HubSpot emulator")
    print(f"{'events':>8} {'visible':>8} {'p50 s':>8} {'p95 s':>8} {'max s':>8} {'mean s':>8}")
    print(
        f"{result['events']:>8} {result['visible']:>8} {result['p50_s']!s:>8} "
        f"{result['p95_s']!s:>8} {result['max_s']!s:>8} {result['mean_s']!s:>8}"
    )
    if args.consent_delay > 0:
        print(f"consent run still in flight at the end: {result['consent_in_flight_at_end']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
