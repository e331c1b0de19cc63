"""Webhook latency benchmark: a shopper edit in B2Connect → visible in the HubSpot emulator.

    python bench/webhook_latency.py [--events N] [--rate R] [--consent-delay S] [--json PATH]
    python bench/webhook_latency.py --backfill N [--latency-ms MS] [--events N]
                                    [--interval S] [--json PATH]

Starts the emulators in this process and `b2sync run` as a subprocess (the shipped
config.yaml, a temporary SQLite store), waits for the backfill, points B2Connect's webhooks
at the daemon, then makes N customer edits (``admin_patch``, each fires a signed webhook)
at R per second, each on a different customer. A poller watches the HubSpot emulator's
admin API and records, per edit, the time until the new first name is visible there.
Prints p50/p95/max and writes them as JSON. Target: p95 < 2 s.

``--backfill N`` measures under load (issue 18): the emulators hold N customers (with their
companies and orders) and answer every HubSpot and Salesforce call after ``--latency-ms``
(default 250, HubSpot's real 190-per-10-s limit on); the daemon starts on an empty store, so
its first runs are the backfill, and as soon as it runs, ``--events`` (default 100) new
customers are created in B2Connect, one every ``--interval`` seconds (default 0.5), each
firing its signed ``customer.created`` webhook: customers outside the backfill. A poller
reads both CRM emulators every ``--poll`` seconds and records, per customer, the time from
the webhook's delivery (the daemon answered it) and from the change until the contact is
visible in HubSpot and in Salesforce. Prints p50/p95/max per CRM, whether the backfill was
still running when the last webhook went out, and writes it all as JSON.

``--consent-delay S`` measures with a consent run in flight: the shop is backfilled with
``b2sync run --once`` first, HubSpot answers no batch status read and takes S seconds per
contact's status read, so the daemon's first consent run reads every contact one by one
for the whole measurement (the result says whether it was still running at the end).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
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


def _visible_keys(stack: EmulatorStack) -> dict[str, set[str]]:
    """B2Connect customer ids that have a contact, per CRM emulator."""
    hubspot = {
        str(c.get("properties", {}).get("b2connect_id"))
        for c in stack.hubspot.admin_list("contacts")
    }
    salesforce = {str(c.get("B2Connect_Id__c")) for c in stack.salesforce.admin_list("Contact")}
    return {"hubspot": hubspot, "salesforce": salesforce}


class _Creates:
    """New customers made one by one; when each was made, its webhook delivered, and seen."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.made: list[float] = []
        self.received: dict[int, float] = {}
        self.seen: dict[str, dict[str, float]] = {"hubspot": {}, "salesforce": {}}
        self.lock = threading.Lock()

    def poll(self, stack: EmulatorStack) -> None:
        """Stamp newly delivered webhooks (delivered in creation order) and visible keys."""
        now = time.perf_counter()
        delivered = [d for d in list(stack.b2connect.webhooks.deliveries) if d["delivered"]]
        with self.lock:
            for index in range(len(self.received), min(len(delivered), len(self.keys))):
                self.received[index] = now
            wanted = list(self.keys)
        visible = _visible_keys(stack)
        now = time.perf_counter()
        with self.lock:
            for crm, keys in visible.items():
                for key in wanted:
                    if key in keys:
                        self.seen[crm].setdefault(key, now)

    def outstanding(self) -> int:
        with self.lock:
            return sum(len(self.keys) - len(seen) for seen in self.seen.values())


def _running(http: requests.Session, url: str) -> bool:
    answer = http.get(f"{url}/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
    return any(p["running_since"] for p in answer.json()["pipelines"])


def measure_under_load(
    stack: EmulatorStack, http: requests.Session, url: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Create ``args.events`` customers while the backfill runs; latencies per CRM."""
    creates = _Creates()
    done = threading.Event()

    def poll() -> None:
        while not done.wait(args.poll):
            creates.poll(stack)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    pause = threading.Event()
    started = time.perf_counter()
    for i in range(args.events):
        row = stack.b2connect.admin_create(
            "customers",
            {"email": f"load-{i}@example.org", "firstName": f"Load{i}", "lastName": "Bench"},
        )
        with creates.lock:
            creates.keys.append(str(row["id"]))
            creates.made.append(time.perf_counter())
        pause.wait(max(0.0, started + (i + 1) * args.interval - time.perf_counter()))
    backfill_running = _running(http, url) or not _synced(http, url)
    deadline = time.monotonic() + args.settle
    while creates.outstanding() and time.monotonic() < deadline:
        pause.wait(0.2)
    done.set()
    poller.join()
    out: dict[str, Any] = {"backfill_running_at_last_webhook": backfill_running}
    for crm, seen in creates.seen.items():
        from_change = [seen[k] - creates.made[i] for i, k in enumerate(creates.keys) if k in seen]
        from_received = [
            seen[k] - creates.received[i]
            for i, k in enumerate(creates.keys)
            if k in seen and i in creates.received
        ]
        total = len(creates.keys)
        out[crm] = {"visible": len(seen), **_stats(from_received, "received", total)}
        out[crm].update(_stats(from_change, "change", total))
    # per customer: when it was made (from the first) and how long until each CRM showed it,
    # so a tail can be placed in time against the daemon's log (--daemon-log)
    out["first_made_at"] = time.time() - (time.perf_counter() - started)
    out["per_customer"] = [
        {
            "key": key,
            "made_s": round(creates.made[i] - started, 3),
            **{
                f"{crm}_s": round(seen[key] - creates.made[i], 3) if key in seen else None
                for crm, seen in creates.seen.items()
            },
        }
        for i, key in enumerate(creates.keys)
    ]
    return out


def _stats(values: list[float], since: str, total: int) -> dict[str, float | None]:
    """p50/p95/max over all ``total`` events; one never seen counts as endless, so a
    percentile that falls on one is None (not visible within ``--settle``)."""
    padded = values + [math.inf] * max(0, total - len(values))
    if not padded:
        padded = [math.inf]
    return {
        f"p50_from_{since}_s": _finite(_percentile(padded, 0.5)),
        f"p95_from_{since}_s": _finite(_percentile(padded, 0.95)),
        f"max_from_{since}_s": _finite(max(padded)),
    }


def _finite(value: float) -> float | None:
    return round(value, 3) if math.isfinite(value) else None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="200; 100 with --backfill")
    parser.add_argument("--rate", type=float, default=10.0, help="edits per second")
    parser.add_argument("--customers", type=int, default=0, help="default: 1.5 x events")
    parser.add_argument(
        "--consent-delay", type=float, default=0.0,
        help="seconds per HubSpot consent status read; > 0 keeps a consent run in flight",
    )  # fmt: skip
    parser.add_argument(
        "--backfill", type=int, default=0,
        help="N > 0: measure new customers' webhooks while the daemon backfills N customers",
    )  # fmt: skip
    parser.add_argument("--latency-ms", type=float, default=250.0, help="with --backfill")
    parser.add_argument("--interval", type=float, default=0.5, help="with --backfill")
    parser.add_argument("--poll", type=float, default=0.1, help="with --backfill")
    parser.add_argument(
        "--settle", type=float, default=300.0,
        help="with --backfill: seconds after the last webhook to wait for the rest to show",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--daemon-log", type=Path, default=None, help="keep the daemon's log here (--backfill)"
    )
    args = parser.parse_args()
    if args.events is None:
        args.events = 100 if args.backfill > 0 else 200
    return args


def main() -> None:
    args = _arguments()
    if args.backfill > 0:
        under_load(args)
        return
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


def _daemon_env(stack: EmulatorStack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
    env.update(stack.env(), BENCH_TOKEN=TOKEN)
    env["B2SYNC_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    return env


def _serving(http: requests.Session, url: str) -> bool:
    try:
        return _running(http, url)
    except requests.ConnectionError:
        return False


def under_load(args: argparse.Namespace) -> None:
    """``--backfill N``: webhook-to-CRM latency of new customers while a backfill runs."""
    from bench.realistic import stack_options

    options = stack_options(args.latency_ms, args.latency_ms, 0.0)
    stack = EmulatorStack(customers=args.backfill, seed=42, **options)
    b2sync = shutil.which("b2sync", path=str(Path(sys.executable).parent)) or "b2sync"
    with stack, tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp))
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = (args.daemon_log or Path(tmp) / "daemon.log").open("wb")
        daemon = subprocess.Popen(
            [b2sync, "run", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
            env=_daemon_env(stack), stdout=log, stderr=log,
        )  # fmt: skip
        try:
            with requests.Session() as http:
                http.trust_env = False
                _wait(lambda: _serving(http, url), 120, "the daemon's first run")
                stack.b2connect.webhook_url = f"{url}/webhooks/b2connect"
                result = measure_under_load(stack, http, url, args)
                result["backfill_running_at_end"] = not _synced(http, url)
            report(args, result)  # before stopping: a long run may take its time to stop
        finally:
            stack.b2connect.webhook_url = None
            _stop(daemon)
            log.close()


def _stop(daemon: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL when a run in flight does not stop within a minute."""
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        print("the daemon did not stop within 60 s of SIGTERM; killed", file=sys.stderr)
        daemon.kill()
        daemon.wait(timeout=30)


def report(args: argparse.Namespace, measured: dict[str, Any]) -> None:
    """Print the table and write the JSON of a ``--backfill`` measurement."""
    result = {
        "backfill_customers": args.backfill,
        "latency_ms": args.latency_ms,
        "events": args.events,
        "interval_s": args.interval,
        **measured,
    }
    print(f"webhook -> visible, {args.events} new customers while backfilling {args.backfill}")
    print(f"{'crm':>11} {'visible':>8} {'p50 s':>8} {'p95 s':>8} {'max s':>8}   (from delivery)")
    for crm in ("hubspot", "salesforce"):
        row = result[crm]
        print(
            f"{crm:>11} {row['visible']:>8} {row['p50_from_received_s']!s:>8} "
            f"{row['p95_from_received_s']!s:>8} {row['max_from_received_s']!s:>8}"
        )
    print(f"(None: not visible within --settle {args.settle:.0f} s of the last webhook)")
    print(
        f"backfill still running at the last webhook: {result['backfill_running_at_last_webhook']}"
    )
    print(f"backfill still running at the end: {result['backfill_running_at_end']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
