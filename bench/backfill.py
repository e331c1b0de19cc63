"""Backfill benchmark: B2Connect → HubSpot and Salesforce through the emulators.

    python bench/backfill.py [--customers N] [--no-rerun] [--json PATH]

The emulators run in their own process (seeded: N customers, N/5 companies, ~3 orders per
customer with 1-4 lines each); this process runs every pipeline of the shipped config.yaml
once and then the insights pass (the backfill), then once more with --full (the no-op
rerun), and prints:

- records/s of the backfill, API calls per endpoint against the minimum possible
  (ceil(n/100) per HubSpot batch object, ceil(n/200) per Salesforce collection),
- peak RSS of the sync process (the emulators' memory is not counted),
- the write calls of the no-op rerun on every side, B2Connect write-backs included
  (``noop_write_calls``, per system ``noop_write_calls_<system>``; target: 0).

HubSpot's emulated burst limit is raised for the run: this measures b2sync, not the
10-second window (the governor is tested separately). Salesforce writes use sObject
Collections here (bulk threshold raised) so the minimum is ceil(n/200); the Bulk path has
its own end-to-end test.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from b2sync.insights_passes import InsightsPasses  # noqa: E402
from b2sync.runtime import build_runner  # noqa: E402
from mapping.config import Pipeline, parse_config  # noqa: E402
from sync.logs import configure_logging  # noqa: E402
from sync.push.in_hand import IN_HAND  # noqa: E402
from sync.run import RunSummary  # noqa: E402
from sync.runner import Runner, side_by_side  # noqa: E402

WRITE_MARKERS = (
    "batch/upsert",
    "batch/update",
    "batch/create",
    "composite/sobjects",
    "jobs/ingest",
)
#: POSTs that only read (every other POST, PATCH, PUT or DELETE writes)
READ_POSTS = ("/search", "/batch/read")
SYSTEMS = ("b2connect", "hubspot", "salesforce")
HS_BATCH = 100
SF_COLLECTION = 200

WORKDIR_HELP = (
    "Directory for the run's files (database, emulators' env and CA files), e.g. one outside "
    "/tmp for a long run (default: the system's temporary directory)."
)

#: emulator settings of this benchmark: limits out of the way, no latency
UNLIMITED: dict[str, Any] = {
    "hubspot_kwargs": {
        "rate_limit_per_10s": 10**9,
        "daily_limit": 10**10,
        "search_per_second": 10**6,
    },
    "salesforce_kwargs": {"daily_limit": 10**9},
}

SERVE = """
import json, signal, sys, threading
from emulators.stack import EmulatorStack
stack = EmulatorStack(customers=int(sys.argv[1]), seed=42, **json.loads(sys.argv[3]))
stack.start()
stack.write_env(sys.argv[2])
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
print("ready", flush=True)
done.wait()
stack.stop()
"""


def start_emulators(
    customers: int, env_file: Path, options: dict[str, Any] | None = None
) -> subprocess.Popen[str]:
    """The seeded emulator stack in its own process (``options`` go to ``EmulatorStack``,
    :data:`UNLIMITED` by default); returns once it serves, its env written to ``env_file``.
    Its temporary files (the Salesforce emulator's CA and certificate) go in ``env_file``'s
    directory, the run's own, not loose in /tmp where a cleaner may remove them mid-run."""
    options = UNLIMITED if options is None else options
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(customers), str(env_file), json.dumps(options)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(env_file.parent.resolve())},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise SystemExit("emulators did not start")
    return proc


def stop_emulators(proc: subprocess.Popen[str]) -> None:
    """Stop the emulator process; killed when it takes more than a minute (a stack of 100k
    customers on a loaded machine), so the measurement is still reported."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=60)
    if proc.stdout is not None:
        proc.stdout.close()


def read_env(path: Path) -> dict[str, str]:
    import shlex

    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        out[key] = shlex.split(value)[0] if value else ""
    return out


def admin(env: dict[str, str], route: str) -> dict[str, Any]:
    """``GET /_emulator/<route>`` of each emulator, by system."""
    out: dict[str, Any] = {}
    with requests.Session() as session:
        session.trust_env = False
        for system, url_var, verify in (
            ("b2connect", "B2SYNC_B2CONNECT_URL", True),
            ("hubspot", "B2SYNC_HUBSPOT_URL", True),
            ("salesforce", "B2SYNC_SALESFORCE_URL", env["B2SYNC_SALESFORCE_CA_FILE"]),
        ):
            answer = session.get(f"{env[url_var]}/_emulator/{route}", verify=verify, timeout=60)
            out[system] = answer.json()
    return out


def calls(env: dict[str, str]) -> Counter[str]:
    """Every emulator's call counts, keyed ``"system METHOD path"``."""
    total: Counter[str] = Counter()
    for system, counts in admin(env, "calls").items():
        total.update({f"{system} {k}": v for k, v in counts.items()})
    return total


def is_write(endpoint: str) -> bool:
    """True for an emulator call key (``"system METHOD path"``) that changes data."""
    _system, method, path = endpoint.split(" ", 2)
    if method == "POST":
        return not path.endswith(READ_POSTS)
    return method in {"PATCH", "PUT", "DELETE"}


def noop_writes(noop_calls: Counter[str]) -> dict[str, int]:
    """The no-op rerun's write calls per system (quiescence: 0 on every side)."""
    out = dict.fromkeys(SYSTEMS, 0)
    for endpoint, n in noop_calls.items():
        if is_write(endpoint):
            out[endpoint.split(" ", 1)[0]] += n
    return out


def minimum(written: dict[str, Counter[str]]) -> dict[str, int]:
    """The fewest write calls that could carry what was written, per system."""
    hubspot = sum(math.ceil(n / HS_BATCH) for n in written["hubspot"].values())
    salesforce = sum(math.ceil(n / SF_COLLECTION) for n in written["salesforce"].values())
    return {"hubspot": hubspot, "salesforce": salesforce}


def peak_rss_mb() -> int:
    """Peak RSS of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def rss_mb() -> int:
    """Current RSS of this process (``VmRSS``), in MB (0 where /proc is missing)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024)
    return 0


class RssTrace:
    """The sync process's RSS sampled every ``every`` seconds in a thread: the peak while
    each pipeline (and the insights pass) ran, and the samples with the phases running then
    (``--rss-trace``). Two pipelines running side by side both get the sample."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.running: set[str] = set()
        self.peaks: dict[str, int] = {}
        self.samples: list[tuple[float, int, list[str]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="rss-trace", daemon=True)
        self._thread.start()

    def enter(self, phase: str) -> None:
        with self._lock:
            self.running.add(phase)
        self.sample()

    def leave(self, phase: str) -> None:
        self.sample()
        with self._lock:
            self.running.discard(phase)

    def sample(self) -> None:
        mb = rss_mb()
        with self._lock:
            phases = sorted(self.running)
            self.samples.append((round(time.perf_counter() - self._started, 1), mb, phases))
            for phase in phases:
                self.peaks[phase] = max(self.peaks.get(phase, 0), mb)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        return {"every_s": self.every, "peak_mb": self.peaks, "samples": self.samples}


def _count_written(written: Counter[str], pipe: Pipeline, counts: Counter[str]) -> None:
    """What one pipeline's run wrote, per CRM object and association type."""
    written[pipe.crm.object] += counts["written"]
    if pipe.lines is not None:
        written[pipe.lines.object] += counts["lines_written"]
    for assoc in pipe.associations:
        # associations made inline, and those deferred (the contact not linked yet) and made
        # once the customers pipeline had finished, in batches of their own
        written[f"assoc:{assoc.type_id}"] += counts["associated"] + counts["deferred_completed"]
    if pipe.lines is not None and pipe.lines.association_type:
        written[f"assoc:{pipe.lines.association_type}"] += counts["lines_written"]


def run_all(
    runner: Runner,
    *,
    full: bool,
    timings: dict[str, float] | None = None,
    trace: RssTrace | None = None,
) -> tuple[float, Counter[str], dict[str, Counter[str]]]:
    """Every pipeline as ``b2sync sync`` runs them: the groups of
    :func:`sync.runner.parallel_groups` (different CRM budgets, no links between them) at the
    same time, each in dependency order; then, on a backfill, the insights pass. ``timings``
    gets each pipeline's (and the insights pass's) wall seconds, and ``peak_rss_mb_pipelines``:
    the peak RSS before the insights pass."""
    timings = {} if timings is None else timings
    counts: Counter[str] = Counter()
    written: dict[str, Counter[str]] = {"hubspot": Counter(), "salesforce": Counter()}
    start = time.perf_counter()

    def run_one(pipe: Pipeline) -> RunSummary:
        started = time.perf_counter()
        if trace is not None:
            trace.enter(pipe.name)
        try:
            summary = runner.run_pipeline(pipe, full=full, trigger="bench")
        finally:
            if trace is not None:
                trace.leave(pipe.name)
        timings[pipe.name] = round(time.perf_counter() - started, 1)
        return summary

    pipes = runner.select(None)
    # like `b2sync sync`: the two CRMs' pipeline chains side by side, each in dependency order,
    # and on a backfill the insights pass beside the orders pipelines once the customers
    # pipelines are done (customers were pushed with the orders read ahead), then the pass
    # after them, so the rerun below can be a true no-op
    passes = InsightsPasses(runner, pipes, dry_run=full)  # a --full rerun: no pass, as before
    insights_started: list[float] = []

    def insights_pass() -> None:
        insights_started.append(time.perf_counter())
        if trace is not None:
            trace.enter("insights beside")
        passes.run()
        if trace is not None:
            trace.leave("insights beside")
        timings["insights"] = round(time.perf_counter() - insights_started[0], 1)

    beside = passes.beside()
    summaries = side_by_side(
        pipes,
        run_one,
        start=runner.warm_up,
        beside=beside and (beside[0], insights_pass),
        early=True,
    )
    timings["peak_rss_mb_pipelines"] = peak_rss_mb()
    runs = [(pipe, summary.counts) for pipe, summary in zip(pipes, summaries, strict=True)]
    for pipe, pipe_counts in runs:
        counts.update(pipe_counts)
        system = runner.config.connections[pipe.crm.connection].type
        _count_written(written[system], pipe, pipe_counts)
    ended = time.perf_counter()
    if trace is not None and passes.on:
        trace.enter("insights")
    for one in passes.finish():
        for done in one.done:
            for name, pushed in done.pushed.items():
                pipe = runner.config.pipeline(name)
                system = runner.config.connections[pipe.crm.connection].type
                written[system][f"insights:{pipe.crm.object}"] += pushed["written"]
    if passes.on:  # the insights' wall seconds: from the first pass's start to the last's end
        if trace is not None:
            trace.leave("insights")
        timings["insights"] = round(time.perf_counter() - (insights_started or [ended])[0], 1)
        timings["insights_after_pipelines"] = round(time.perf_counter() - ended, 1)
    return time.perf_counter() - start, counts, written


def config_text(tmp: str, *, audit: bool = True) -> str:
    """The shipped config.yaml with its database in ``tmp`` and sObject Collections (not
    Bulk) for Salesforce writes; the audit trail off when ``audit`` is False."""
    text = (ROOT / "config.yaml").read_text()
    text = text.replace("sqlite:///state/b2sync.db", f"sqlite:///{tmp}/bench.db")
    if not audit:
        text = text.replace("audit:\n  enabled: true", "audit:\n  enabled: false")
    return text.replace(
        "    ca_file: ${B2SYNC_SALESFORCE_CA_FILE}\n",
        "    ca_file: ${B2SYNC_SALESFORCE_CA_FILE}\n    bulk_threshold: 1000000\n",
    )


def measure(
    customers: int,
    audit: bool,
    rerun: bool = True,
    timings: dict[str, float] | None = None,
    trace: RssTrace | None = None,
    workdir: Path | None = None,
) -> tuple[Any, ...]:
    """Backfill then no-op rerun (unless ``rerun`` is False: a memory measurement) against
    fresh emulators; calls counted by the emulators. The run's files (database, emulators'
    env and TLS files) go in a fresh directory under ``workdir`` (default: the system's)."""
    with tempfile.TemporaryDirectory(prefix="b2sync-bench-", dir=workdir) as tmp:
        env_file = Path(tmp) / "env"
        proc = start_emulators(customers, env_file)
        try:
            env = read_env(env_file)
            os.environ.update(env)
            runner = build_runner(parse_config(config_text(tmp, audit=audit)))
            try:
                before = calls(env)
                seconds, counts, written = run_all(runner, full=False, timings=timings, trace=trace)
                after = calls(env)
                noop_s, noop_counts = 0.0, Counter[str]()
                if rerun:
                    noop_s, noop_counts, _ = run_all(runner, full=True)
                after_noop = calls(env)
            finally:
                runner.close()
        finally:
            stop_emulators(proc)
    return seconds, counts, written, noop_s, noop_counts, after - before, after_noop - after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--no-audit", action="store_true", help="Turn the audit trail off (to measure its cost)."
    )
    parser.add_argument(
        "--no-rerun",
        action="store_true",
        help="Skip the no-op rerun (peak RSS of the backfill alone; its noop_* fields are 0).",
    )
    parser.add_argument(
        "--rss-trace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="Sample the sync process's RSS every SECONDS: the peak per pipeline (rss_trace).",
    )
    parser.add_argument("--workdir", type=Path, default=None, help=WORKDIR_HELP)
    args = parser.parse_args()
    configure_logging(level="error")
    os.environ.setdefault("B2SYNC_MASTER_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    timings: dict[str, float] = {}
    trace = RssTrace(args.rss_trace) if args.rss_trace else None
    seconds, counts, written, noop_s, noop_counts, backfill_calls, noop_calls = measure(
        args.customers,
        audit=not args.no_audit,
        rerun=not args.no_rerun,
        timings=timings,
        trace=trace,
        workdir=args.workdir,
    )
    write_calls = {k: v for k, v in backfill_calls.items() if any(m in k for m in WRITE_MARKERS)}
    noop_by_side = noop_writes(noop_calls)
    mins = minimum(written)
    hs_writes = sum(v for k, v in write_calls.items() if k.startswith("hubspot"))
    sf_writes = sum(v for k, v in write_calls.items() if k.startswith("salesforce"))
    records = counts["read"]
    result: dict[str, Any] = {
        "customers": args.customers,
        "audit": not args.no_audit,
        "rerun": not args.no_rerun,
        "records_read": records,
        "records_written": counts["written"] + counts["lines_written"],
        "seconds": round(seconds, 1),
        "records_per_s": round(records / seconds),
        "api_calls": sum(backfill_calls.values()),
        "write_calls": hs_writes + sf_writes,
        "api_calls_minimum": mins["hubspot"] + mins["salesforce"],
        "hubspot_write_calls": hs_writes,
        "hubspot_write_minimum": mins["hubspot"],
        "salesforce_write_calls": sf_writes,
        "salesforce_write_minimum": mins["salesforce"],
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_mb_pipelines": timings.get("peak_rss_mb_pipelines"),
        "records_in_memory_bound": IN_HAND.limit,
        "records_in_memory_peak": IN_HAND.peak,
        "records_in_memory_drains": IN_HAND.drains,
        "noop_seconds": round(noop_s, 1),
        "noop_write_calls": sum(noop_by_side.values()),
        **{f"noop_write_calls_{system}": n for system, n in noop_by_side.items()},
        "noop_unchanged": noop_counts["unchanged"],
        "dead_lettered": counts["dead_lettered"],
        "conflicts": counts["conflicts"],
        "endpoints": dict(sorted(backfill_calls.items())),
        "noop_endpoints": {k: v for k, v in sorted(noop_calls.items()) if v},
        "written_per_object": {s: dict(c) for s, c in written.items()},
        "pipeline_s": timings,
    }
    if trace is not None:
        result["rss_trace"] = trace.stop()
    width = max(len(k) for k in result)
    for key, value in result.items():
        if isinstance(value, dict):
            continue
        print(f"{key:<{width}}  {value:>12}")
    print("\ncalls per endpoint (backfill)")
    for endpoint, n in sorted(backfill_calls.items()):
        print(f"  {n:>8}  {endpoint}")
    print("\ncalls per endpoint (no-op rerun)")
    for endpoint, n in sorted(noop_calls.items()):
        if n:
            print(f"  {n:>8}  {endpoint}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
