"""Issue 20 item 12: `b2sync sync` next to a running daemon waits for the daemon's run of the
pipeline (saying so), gives up after --wait with exit code 3, and never crashes on the store."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from emulators import FaultPlan
from emulators.stack import EmulatorStack
from tests.daemon.conftest import B2SYNC, DaemonProcess, daemon_config_text, fresh, wait_for

HS_UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"
PIPELINE = "customers-to-hubspot"


def _sync(daemon: DaemonProcess, pipeline: str, wait: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [B2SYNC, "sync", pipeline, "--config", str(daemon.config_path), "--wait", wait],
        env=daemon.env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _one_pipeline(name: str) -> str:
    """The shipped config (with the daemon's status token) running only pipeline ``name``."""
    text = daemon_config_text()
    for other in re.findall(r"^  - name: (\S+)$", text, flags=re.M):
        if other != name:
            text = text.replace(f"  - name: {other}\n", f"  - name: {other}\n    enabled: false\n")
    return text


def _push_half_running(daemon: DaemonProcess) -> bool:
    """The pull half of the daemon's two-way run is done and the push half holds the lease."""
    states = [r["status"] for r in daemon.runs() if r["pipeline"] == PIPELINE]
    return states == ["succeeded", "running"]


@pytest.mark.slow  # the daemon's run is held for 20 s (one CLI start-up must fit in it)
def test_sync_waits_for_the_daemons_run(stack: EmulatorStack, tmp_path: Path) -> None:
    fresh(stack)
    # the daemon's first HubSpot upsert hangs for a while: its run holds the pipeline's lease
    stack.hubspot.faults = FaultPlan.from_json(
        {"rules": [{"match": HS_UPSERT, "kind": "slow", "delay_s": 20, "times": 1}]}
    )
    daemon = DaemonProcess(stack, tmp_path, config_text=_one_pipeline(PIPELINE))
    held = PIPELINE
    try:
        daemon.start()
        wait_for(lambda: _push_half_running(daemon), 30, "a run held by the slow upsert")

        impatient = _sync(daemon, held, "0.2")
        assert impatient.returncode == 3, impatient.stdout + impatient.stderr
        assert f"waiting for the daemon's run of {held} to finish" in impatient.stdout
        assert "gave up after --wait 0.2s" in impatient.stderr
        assert held in impatient.stderr

        patient = _sync(daemon, held, "120")
        assert patient.returncode == 0, patient.stdout + patient.stderr
        assert f"waiting for the daemon's run of {held} to finish" in patient.stdout
        for done in (impatient, patient):
            assert "database is locked" not in done.stdout + done.stderr
            assert "Traceback" not in done.stderr
        runs = [r for r in daemon.runs() if r["pipeline"] == held]
        daemons = [r for r in runs if r["trigger"] != "manual"]
        mine = [r for r in runs if r["trigger"] == "manual"]
        # two halves (pull, push) each: the impatient sync started no run at all
        assert [r["status"] for r in mine] == ["succeeded", "succeeded"]
        assert [r["status"] for r in daemons] == ["succeeded", "succeeded"]
        assert min(r["started_at"] for r in mine) >= max(r["finished_at"] for r in daemons)
    finally:
        stack.hubspot.faults = FaultPlan.from_json({"rules": []})
        daemon.close()
