"""Backfill under real vendor latency and real rate limits: how close to the limits' bound?

    python bench/realistic.py [--customers N] [--hubspot-ms MS] [--salesforce-ms MS]
                              [--b2connect-ms MS] [--concurrency N] [--json PATH]

The emulators run in their own process (seeded like ``bench/backfill.py``: N customers,
N/5 companies, ~3 orders per customer with 1-4 lines) with every HubSpot call taking
``--hubspot-ms``, every Salesforce call ``--salesforce-ms`` (B2Connect ``--b2connect-ms``,
default 0) and HubSpot's real limits (190 calls per 10 s, 650,000 a day: a Professional
private app). This process runs the backfill of the shipped config.yaml (every pipeline,
then the insights pass) through the real runner, and prints (and writes with --json):

- ``wall_s``: the backfill's wall time (process start and emulator seeding excluded);
- calls per endpoint and in total (the emulators' counters), 429s the HubSpot emulator sent
  and Salesforce's concurrent-long-running refusals;
- ``write_calls`` against ``write_minimum`` (ceil(n/100) per HubSpot batch object,
  ceil(n/200) per Salesforce collection) and their ratio;
- ``peak_rss_mb`` of the sync process, and ``cpu_s``: the CPU seconds (user + system) the
  sync process spent during the backfill, the local work that overlaps nothing in a serial
  engine (the emulators run in their own process and are not counted);
- ``efficiency = forced_s / wall_s``, where ``forced_s`` is what the rate limits alone
  force: ``max(HubSpot calls / 19 per s, Salesforce calls x latency / 25) + chain_s``.
  HubSpot allows 19 calls a second on average; Salesforce allows 25 long calls at once, so
  its calls' total time divided by 25. ``chain_s`` is the latency of the longest chain of
  calls that must follow one another whatever the concurrency: per CRM, one call per
  dependent write stage (HubSpot: companies -> contacts -> orders -> line items ->
  line-item associations; Salesforce: Account -> Contact -> order -> order line), counted
  only for stages that wrote something, times that CRM's latency; the longer CRM counts
  (the two CRMs can run side by side). Reads and lookups before a stage are left out, so
  the bound is optimistic and efficiency is a conservative figure.

``--concurrency 1`` is the serial engine (one call in flight per connection: the governors
are capped at 1), so the before/after tables come from the same machine and run. A higher
value sets ``concurrency`` on each connection (for HubSpot and Salesforce the ceiling of the
adaptive limit, which starts at 4) and caps the governors there; without the option the
config's defaults apply (B2Connect 4, HubSpot 32, Salesforce 25). ``governors`` in the
output says what each CRM's adaptive limit did (its ceiling, its value at the end, the most
calls in flight, its decreases). Pipelines run as ``b2sync sync`` runs them: the HubSpot and
Salesforce groups side by side.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from b2sync.runtime import build_runner  # noqa: E402
from bench.backfill import (  # noqa: E402
    WORKDIR_HELP,
    WRITE_MARKERS,
    admin,
    calls,
    config_text,
    minimum,
    read_env,
    run_all,
    start_emulators,
    stop_emulators,
)
from connectors.budget import AdaptiveConcurrency  # noqa: E402
from mapping.config import HubSpotConnection, parse_config  # noqa: E402
from sync.logs import configure_logging  # noqa: E402
from sync.push.in_hand import IN_HAND  # noqa: E402
from sync.runner import Runner  # noqa: E402

#: HubSpot's average rate for a private app (190 calls per 10 s)
HUBSPOT_PER_S = 19.0
#: Salesforce's concurrent long-running calls in a production org
SALESFORCE_CONCURRENT = 25
#: the dependent write stages of each CRM, in order (keys of the runner's written counts)
STAGES = {
    "hubspot": ("companies", "contacts", "orders", "line_items", "assoc:513"),
    "salesforce": ("Account", "Contact", "B2C_Order__c", "B2C_Order_Line__c"),
}
CONNECTIONS = ("shop", "hubspot", "salesforce")


def stack_options(hubspot_ms: float, salesforce_ms: float, b2connect_ms: float) -> dict[str, Any]:
    """Emulator settings: real HubSpot limits, a Salesforce org large enough for the run."""
    return {
        "hubspot_kwargs": {"rate_limit_per_10s": 190, "daily_limit": 650_000},
        "salesforce_kwargs": {"daily_limit": 10**7},
        "latency": {"hubspot": hubspot_ms, "salesforce": salesforce_ms, "b2connect": b2connect_ms},
    }


def engine_concurrency_supported() -> bool:
    """Whether the config schema has a per-connection ``concurrency`` setting."""
    return "concurrency" in HubSpotConnection.model_fields


def with_concurrency(text: str, concurrency: int | None) -> str:
    """``text`` with ``concurrency: N`` under each connection (when the schema has it); None
    keeps the config's defaults."""
    if concurrency is None or not engine_concurrency_supported():
        return text
    for name in CONNECTIONS:
        marker = f"\n  {name}:\n"
        text = text.replace(marker, f"{marker}    concurrency: {concurrency}\n", 1)
    return text


def crm_budgets(runner: Runner) -> dict[str, Any]:
    """The API budget (governor) of each CRM connection, by system."""
    out = {}
    for name in ("hubspot", "salesforce"):
        connector = runner.connector(name)
        budget = getattr(connector, "governor", None) or getattr(connector, "budget", None)
        if budget is not None:
            out[name] = budget
    return out


def cap_governors(runner: Runner, concurrency: int) -> None:
    """At most ``concurrency`` calls in flight per CRM connection (the adaptive limit starts
    at 4, or lower, and grows up to it)."""
    for budget in crm_budgets(runner).values():
        budget.concurrency = AdaptiveConcurrency.up_to(concurrency)


def governor_stats(runner: Runner) -> dict[str, Any]:
    """What each CRM budget's adaptive limit did: its ceiling, where it ended, the most calls
    it let out at once, and its decreases (after refusals, after latency rose)."""
    return {
        system: {
            "ceiling": budget.concurrency.maximum,
            "limit_at_end": budget.max_in_flight,
            "peak_in_flight": budget.concurrency.peak_in_flight,
            "throttled": budget.concurrency.throttled,
            "slowed": budget.concurrency.slowed,
        }
        for system, budget in crm_budgets(runner).items()
    }


class InFlightSampler:
    """Samples each CRM budget's calls in flight every ``every`` seconds on a thread of its
    own while the backfill runs: where the budget sits idle (no call in flight) and how full
    it is, over the run."""

    def __init__(self, budgets: dict[str, Any], every: float = 0.1) -> None:
        self.budgets, self.every = budgets, every
        self.samples: dict[str, list[int]] = {system: [] for system in budgets}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-sampler", daemon=True)

    def __enter__(self) -> InFlightSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            for system, budget in self.budgets.items():
                self.samples[system].append(budget.concurrency.in_flight)

    def summary(self, slices: int = 10) -> dict[str, Any]:
        """Per CRM: the mean calls in flight, the share of samples with none in flight, and
        the mean in flight per tenth of the run (the timeline)."""
        out: dict[str, Any] = {}
        for system, seen in self.samples.items():
            if not seen:
                continue
            size = max(1, len(seen) // slices)
            parts = [seen[i : i + size] for i in range(0, len(seen), size)][:slices]
            out[system] = {
                "mean_in_flight": round(sum(seen) / len(seen), 1),
                "idle_share": round(sum(1 for n in seen if n == 0) / len(seen), 3),
                "timeline": [round(sum(p) / len(p), 1) for p in parts],
            }
        return out


def chain_seconds(written: dict[str, Any], latency_s: dict[str, float]) -> float:
    """The longest chain of dependent calls (see the module docstring)."""
    longest = 0.0
    for system, stages in STAGES.items():
        depth = sum(1 for stage in stages if written[system].get(stage, 0) > 0)
        longest = max(longest, depth * latency_s[system])
    return longest


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """One backfill against fresh emulators with latency injected."""
    latency_s = {"hubspot": args.hubspot_ms / 1000, "salesforce": args.salesforce_ms / 1000}
    options = stack_options(args.hubspot_ms, args.salesforce_ms, args.b2connect_ms)
    with tempfile.TemporaryDirectory(prefix="b2sync-bench-", dir=args.workdir) as tmp:
        env_file = Path(tmp) / "env"
        proc = start_emulators(args.customers, env_file, options)
        try:
            env = read_env(env_file)
            os.environ.update(env)
            text = with_concurrency(config_text(tmp), args.concurrency)
            runner = build_runner(parse_config(text))
            try:
                if args.concurrency is not None:
                    cap_governors(runner, args.concurrency)
                before = calls(env)
                started, cpu_started = time.perf_counter(), time.process_time()
                timings: dict[str, float] = {}
                with InFlightSampler(crm_budgets(runner)) as sampler:
                    _seconds, counts, written = run_all(runner, full=False, timings=timings)
                wall = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
                after = calls(env)
                stats = admin(env, "stats")
                governors = governor_stats(runner)
            finally:
                runner.close()
        finally:
            stop_emulators(proc)
    endpoints = after - before
    result = summarise(args, wall, counts, written, endpoints, stats, latency_s)
    result["cpu_s"] = round(cpu, 1)
    result["governors"] = governors
    result["pipeline_s"] = timings
    result["in_flight"] = sampler.summary()
    return result


def summarise(
    args: argparse.Namespace,
    wall: float,
    counts: Any,
    written: dict[str, Any],
    endpoints: Any,
    stats: dict[str, Any],
    latency_s: dict[str, float],
) -> dict[str, Any]:
    by_system = {s: sum(v for k, v in endpoints.items() if k.startswith(s)) for s in STAGES}
    writes = {k: v for k, v in endpoints.items() if any(m in k for m in WRITE_MARKERS)}
    write_calls = sum(v for k, v in writes.items() if not k.startswith("b2connect"))
    mins = minimum(written)
    hubspot_bound = by_system["hubspot"] / HUBSPOT_PER_S
    salesforce_bound = by_system["salesforce"] * latency_s["salesforce"] / SALESFORCE_CONCURRENT
    chain = chain_seconds(written, latency_s)
    forced = max(hubspot_bound, salesforce_bound) + chain
    return {
        "customers": args.customers,
        "hubspot_ms": args.hubspot_ms,
        "salesforce_ms": args.salesforce_ms,
        "b2connect_ms": args.b2connect_ms,
        "concurrency": args.concurrency,
        "engine_concurrency_setting": engine_concurrency_supported(),
        "records_read": counts["read"],
        "records_written": counts["written"] + counts["lines_written"],
        "dead_lettered": counts["dead_lettered"],
        "wall_s": round(wall, 1),
        "api_calls": sum(endpoints.values()),
        "api_calls_hubspot": by_system["hubspot"],
        "api_calls_salesforce": by_system["salesforce"],
        "api_calls_b2connect": sum(v for k, v in endpoints.items() if k.startswith("b2connect")),
        "hubspot_429s": stats["hubspot"]["rejected_429_total"],
        "salesforce_long_running_refusals": stats["salesforce"]["long_running"]["rejected"],
        "write_calls": write_calls,
        "write_minimum": mins["hubspot"] + mins["salesforce"],
        "write_calls_per_minimum": round(write_calls / max(1, sum(mins.values())), 3),
        "peak_in_flight_hubspot": stats["hubspot"]["peak_in_flight"],
        "peak_in_flight_salesforce": stats["salesforce"]["peak_in_flight"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "records_in_memory_bound": IN_HAND.limit,
        "records_in_memory_peak": IN_HAND.peak,
        "records_in_memory_drains": IN_HAND.drains,
        "hubspot_bound_s": round(hubspot_bound, 1),
        "salesforce_bound_s": round(salesforce_bound, 1),
        "chain_s": round(chain, 2),
        "forced_s": round(forced, 1),
        "efficiency": round(forced / wall, 3) if wall else None,
        "endpoints": dict(sorted(endpoints.items())),
        "written_per_object": {s: dict(c) for s, c in written.items()},
    }


def print_table(result: dict[str, Any]) -> None:
    width = max(len(k) for k in result)
    for key, value in result.items():
        if not isinstance(value, dict):
            print(f"{key:<{width}}  {value!s:>12}")
    print("\nwall seconds per pipeline (HubSpot and Salesforce groups side by side)")
    for name, seconds in result.get("pipeline_s", {}).items():
        print(f"  {seconds:>8}  {name}")
    print("\nadaptive limits (calls in flight)")
    for system, figures in result.get("governors", {}).items():
        print(f"  {system:<12}" + "  ".join(f"{k} {v}" for k, v in figures.items()))
    print("\ncalls in flight, sampled every 0.1 s (mean, share idle, mean per tenth of the run)")
    for system, figures in result.get("in_flight", {}).items():
        print(
            f"  {system:<12}mean {figures['mean_in_flight']}  idle {figures['idle_share']}  "
            + " ".join(str(x) for x in figures["timeline"])
        )
    print("\ncalls per endpoint (backfill)")
    for endpoint, n in result["endpoints"].items():
        print(f"  {n:>8}  {endpoint}")
    if (result["concurrency"] or 0) > 1 and not result["engine_concurrency_setting"]:
        print(
            "\nnote: this build's engine has no concurrency setting; only the governors' "
            "caps changed (the engine still makes one call at a time)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--hubspot-ms", type=float, default=250.0)
    parser.add_argument("--salesforce-ms", type=float, default=500.0)
    parser.add_argument("--b2connect-ms", type=float, default=0.0)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="calls in flight per connection; 1 = the serial engine (default: the config's)",
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help=WORKDIR_HELP)
    args = parser.parse_args()
    if args.concurrency is not None and args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    configure_logging(level="error")
    os.environ.setdefault("B2SYNC_MASTER_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    result = measure(args)
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
