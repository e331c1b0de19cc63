"""Pull benchmark: 10,000 CRM edits flow back to B2Connect, from HubSpot and from Salesforce.

    python bench/pull.py [--changes N] [--json PATH]

The emulators run in their own process, seeded with enough customers that N of them end up
linked in each CRM. This process backfills the two customer pipelines (``direction: both``),
reads the CRMs once more (our own writes come back as free echoes), then a CRM user edits N
linked contacts' first names in HubSpot and N last names in Salesforce (in the emulator
process, fast; different fields, so no edit of one CRM outranks the other's), and each
pipeline's pull is timed on its own. It prints, per CRM:

- records pulled, CRM read calls used against the minimum ceil(n/200) (search or query
  pages of 200; Salesforce's queryAll serves up to 2,000 rows a page, so it can beat it),
- the B2Connect calls (one GET to merge against the current record, one PATCH to write it
  back: the integration contract has no batch routes), records/s and seconds;
- then the write calls of the next full cycle (each CRM's edits reach the *other* CRM
  through B2Connect: ceil(n/100) HubSpot batches, ceil(n/200) Salesforce collections) and of
  the cycle after it (target: 0; every echo costs nothing).

HubSpot's emulated burst and search limits are raised: this measures b2sync, not the
portal's quota (the governor is tested separately).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from b2sync.runtime import build_runner  # noqa: E402
from bench.backfill import calls, read_env  # noqa: E402
from mapping.config import parse_config  # noqa: E402
from sync.logs import configure_logging  # noqa: E402

PAGE = 200
PIPELINES = {"hubspot": "customers-to-hubspot", "salesforce": "customers-to-salesforce"}
READS = {
    "hubspot": ("/search",),
    "salesforce": ("/query", "/queryAll"),
}
WRITE_METHODS = ("POST ", "PATCH ", "PUT ", "DELETE ")

SERVE = """
import json, sys
from emulators.stack import EmulatorStack
stack = EmulatorStack(customers=int(sys.argv[1]), seed=42,
    hubspot_kwargs={"rate_limit_per_10s": 10**9, "daily_limit": 10**10, "search_per_second": 10**6},
    salesforce_kwargs={"daily_limit": 10**9})
stack.start()
stack.write_env(sys.argv[2])
print("ready", flush=True)
for line in sys.stdin:
    n = int(line)
    hs = [c for c in stack.hubspot.admin_list("contacts") if c["properties"].get("b2connect_id")]
    for c in hs[:n]:
        stack.hubspot.admin_patch("contacts", c["id"], {"properties": {"firstname": "Hs" + c["id"]}})
    sf = [c for c in stack.salesforce.admin_list("Contact") if c.get("B2Connect_Id__c")]
    for c in sf[:n]:
        stack.salesforce.admin_patch("Contact", c["Id"], {"LastName": "Sf" + c["Id"][-8:]})
    print(json.dumps({"hubspot": min(n, len(hs)), "salesforce": min(n, len(sf))}), flush=True)
stack.stop()
"""


def config_text(tmp: str, direction: str) -> str:
    """The shipped config's two customer pipelines, in ``direction``, audit off."""
    full = parse_config((ROOT / "config.yaml").read_text(), "config.yaml")
    data = json.loads(full.model_dump_json(exclude_none=True, by_alias=True))
    data["pipelines"] = [
        {**p, "direction": direction} for p in data["pipelines"] if p["name"] in PIPELINES.values()
    ]
    data["state_url"] = f"sqlite:///{tmp}/bench.db"
    data["audit"] = {"enabled": False}
    sf = data["connections"]["salesforce"]
    sf["bulk_threshold"] = 1_000_000
    return json.dumps(data)


def measure(changes: int) -> dict[str, Any]:
    customers = math.ceil(changes * 1.2)
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "env"
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(customers), str(env_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("emulators did not start")
            env = read_env(env_file)
            os.environ.update(env)
            both = build_runner(parse_config(config_text(tmp, "both")))
            try:
                for _ in range(2):  # backfill, then the pulls read our writes back (echoes)
                    for pipe in both.select(None):
                        both.run_pipeline(pipe, trigger="bench")
            finally:
                both.close()
            proc.stdin.write(f"{changes}\n")
            proc.stdin.flush()
            edited = json.loads(proc.stdout.readline())
            results = {system: _pull(tmp, env, system, edited[system]) for system in PIPELINES}
            results["next_cycle_write_calls"] = _cycle_writes(tmp, env)
            results["quiet_cycle_write_calls"] = _cycle_writes(tmp, env)
        finally:
            proc.stdin.close()
            proc.wait(timeout=120)
    return results


def _pull(tmp: str, env: dict[str, str], system: str, edited: int) -> dict[str, Any]:
    runner = build_runner(parse_config(config_text(tmp, "pull")))
    try:
        pipe = runner.config.pipeline(PIPELINES[system])
        before = calls(env)
        start = time.perf_counter()
        summary = runner.run_pipeline(pipe, trigger="bench")
        seconds = time.perf_counter() - start
        used = calls(env) - before
    finally:
        runner.close()
    reads = sum(
        v for k, v in used.items() if k.startswith(system) and k.endswith(READS[system])
    ) + sum(v for k, v in used.items() if k.startswith(system) and "/query/" in k)
    pulled = summary.counts["to_b2connect"]
    return {
        "edited": edited,
        "records_read": summary.counts["read"],
        "records_pulled": pulled,
        "crm_read_calls": reads,
        "crm_read_minimum": math.ceil(summary.counts["read"] / PAGE),
        # who changed it: HubSpot property history of the applied edits, 50 records a call
        "history_read_calls": sum(
            v for k, v in used.items() if k.startswith(system) and k.endswith("/batch/read")
        ),
        "b2connect_calls": sum(v for k, v in used.items() if k.startswith("b2connect")),
        "records_per_s": round(pulled / seconds) if seconds else 0,
        "seconds": round(seconds, 1),
        "status": str(summary.status),
        "endpoints": dict(sorted((k, v) for k, v in used.items() if v)),
    }


def _cycle_writes(tmp: str, env: dict[str, str]) -> dict[str, int]:
    """Write calls of one full ``both`` cycle, per endpoint."""
    runner = build_runner(parse_config(config_text(tmp, "both")))
    try:
        before = calls(env)
        for pipe in runner.select(None):
            runner.run_pipeline(pipe, trigger="bench")
        used = calls(env) - before
    finally:
        runner.close()
    return {
        k: v
        for k, v in used.items()
        if v and k.split(" ", 1)[1].startswith(WRITE_METHODS) and "/search" not in k
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    configure_logging(level="error")
    os.environ.setdefault("B2SYNC_MASTER_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    result = measure(args.changes)
    head = f"{'crm':<11}{'records':>9}{'calls':>8}{'min':>6}{'b2c calls':>11}{'rec/s':>8}{'s':>7}"
    print(head)
    for system in PIPELINES:
        row = result[system]
        print(
            f"{system:<11}{row['records_pulled']:>9}{row['crm_read_calls']:>8}"
            f"{row['crm_read_minimum']:>6}{row['b2connect_calls']:>11}"
            f"{row['records_per_s']:>8}{row['seconds']:>7}"
        )
    print("\nwrite calls of the next full cycle (edits reach the other CRM):")
    for endpoint, n in result["next_cycle_write_calls"].items():
        print(f"  {n:>6}  {endpoint}")
    quiet = sum(result["quiet_cycle_write_calls"].values())
    print(f"write calls of the cycle after it: {quiet}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"changes": args.changes, **result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
