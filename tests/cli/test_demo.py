"""Issue 20 item 10: `b2sync demo` is bounded by --duration as a whole (start-up and backfill
included), and ends by printing how to look at what it did; those commands work on the store
it leaves, without the emulators."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from tests.daemon.conftest import B2SYNC
from tests.e2e.conftest import ROOT


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}


def _demo(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [B2SYNC, "demo", "--config", str(ROOT / "config.yaml"), "--customers", "20",
         "--state-dir", "state", *args],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_duration_bounds_the_backfill_too(tmp_path: Path) -> None:
    """--duration 0: over before the backfill, so no pipeline runs and no live round."""
    out, err = _demo(tmp_path, "--duration", "0").communicate(timeout=300)
    assert "--duration 0s reached" in out, out + err
    assert "round 1:" not in out and "backfill" in out
    status = subprocess.run(
        [B2SYNC, "status", "--json", "--config", "state/demo.yaml"],
        cwd=tmp_path, env={**_env(), "B2SYNC_MASTER_KEY_FILE": "state/demo.key"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert all(p["last_run"] is None for p in _pipelines(status.stdout))


@pytest.mark.slow  # a whole backfill of the demo, then its closing commands
def test_demo_ends_with_commands_that_show_what_it_did(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--interval", "600")
    assert proc.stdout is not None
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("two-way:"):  # the last step before the live rounds
                proc.send_signal(signal.SIGINT)
                break
        rest, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # never left running for the tests after this one
            proc.kill()
            proc.communicate()
    out = "".join(seen) + rest
    assert proc.returncode == 0, out + err
    tail = out[out.index("look at what the demo did") :]
    assert "/_emulator/records/contacts" in tail and "/_emulator/records/Contact" in tail
    env = {**_env()}
    key = re.search(r"export (B2SYNC_MASTER_KEY_FILE)=(\S+)", tail)
    assert key is not None
    env[key[1]] = key[2]
    commands = re.findall(r"^  (b2sync (?:status|audit verify) [^\n]*?)(?:\s{2,}.*)?$", tail, re.M)
    assert len(commands) == 2, tail
    for command in commands:
        done = subprocess.run(
            [B2SYNC, *shlex.split(command)[1:]], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, command + done.stdout + done.stderr
    status = subprocess.run(
        [B2SYNC, "status", "--json", "--config", "state/demo.yaml"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert all(p["last_run"]["status"] == "succeeded" for p in _pipelines(status.stdout))


def _pipelines(text: str) -> list[dict[str, object]]:
    data = json.loads(text)
    return list(data["pipelines"] if isinstance(data, dict) else data)
