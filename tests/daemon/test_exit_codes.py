"""`b2sync run --once` tells the truth in its exit code."""

from __future__ import annotations

import subprocess
from pathlib import Path

from emulators import FaultPlan
from emulators.stack import EmulatorStack
from tests.daemon.conftest import B2SYNC, DaemonProcess, fresh

#: every HubSpot call refused as with a revoked private-app token (fatal, no retry helps)
REVOKED = {"rules": [{"match": "*", "kind": "status", "status": 401, "code": "UNAUTHORIZED"}]}


def _run_once(proc: DaemonProcess) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [B2SYNC, "run", "--once", "--config", str(proc.config_path)],
        env=proc.env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_run_once_exits_non_zero_when_a_pipeline_failed(
    stack: EmulatorStack, tmp_path: Path
) -> None:
    """HubSpot refusing every call: `run --once` exits 1 and names the failed pipelines."""
    fresh(stack)
    proc = DaemonProcess(stack, tmp_path)
    stack.hubspot.faults = FaultPlan.from_json(REVOKED)
    try:
        done = _run_once(proc)
    finally:
        stack.hubspot.faults = FaultPlan()
        proc.close()
    assert done.returncode == 1, done.stderr[-2000:]
    assert "customers-to-hubspot" in done.stderr
    assert "customers-to-salesforce" not in done.stderr.splitlines()[-1]
    statuses = {r["pipeline"]: r["status"] for r in proc.runs()}
    assert statuses["customers-to-hubspot"] == "failed"
    assert statuses["customers-to-salesforce"] == "succeeded"


def test_run_once_exits_zero_when_every_pipeline_succeeded(
    stack: EmulatorStack, tmp_path: Path
) -> None:
    """Every pipeline succeeded: `run --once` exits 0."""
    fresh(stack)
    proc = DaemonProcess(stack, tmp_path)
    try:
        done = _run_once(proc)
    finally:
        proc.close()
    assert done.returncode == 0, done.stderr[-2000:]
    assert {r["status"] for r in proc.runs()} == {"succeeded"}
