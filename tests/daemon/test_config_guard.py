"""Finding 14.12: a secret the daemon cannot resolve stops `run` at start and a reload at once.

Exit 2 with the file:line of the reference and the variable's name, never a value; a reload
keeps the old config and logs the same.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from emulators.stack import EmulatorStack
from tests.daemon.conftest import B2SYNC, DaemonProcess, fresh, wait_for


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def test_run_refuses_to_start_without_the_crm_token(stack: EmulatorStack, tmp_path: Path) -> None:
    """`run` with B2SYNC_HUBSPOT_TOKEN unset exits 2 naming file:line and the variable."""
    fresh(stack)
    proc = DaemonProcess(stack, tmp_path)
    env = proc.env()
    token = env.pop("B2SYNC_HUBSPOT_TOKEN")
    done = subprocess.run(
        [B2SYNC, "run", "--config", str(proc.config_path), "--listen", f"127.0.0.1:{proc.port}"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    line = _line_of(proc.config_path, "token: ${B2SYNC_HUBSPOT_TOKEN}")
    assert done.returncode == 2, done.stderr
    assert f"{proc.config_path}:{line}:" in done.stderr
    assert "B2SYNC_HUBSPOT_TOKEN is not set" in done.stderr
    assert token not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "state.pid").exists(), "nothing was started"
    assert sum(stack.hubspot.calls.values()) == 0


def test_run_refuses_to_start_with_a_missing_crm_field(
    stack: EmulatorStack, tmp_path: Path
) -> None:
    """`run` with `crm: frstname` exits 2 with the mapping entry's file:line, before any run."""
    fresh(stack)
    proc = DaemonProcess(stack, tmp_path)
    text = proc.config_path.read_text(encoding="utf-8")
    proc.config_path.write_text(text.replace("crm: firstname", "crm: frstname", 1), "utf-8")
    done = subprocess.run(
        [B2SYNC, "run", "--config", str(proc.config_path), "--listen", f"127.0.0.1:{proc.port}"],
        env=proc.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    line = _line_of(proc.config_path, "crm: frstname")
    assert done.returncode == 2, done.stderr
    assert f"{proc.config_path}:{line}:" in done.stderr
    assert "did you mean 'firstname'?" in done.stderr
    assert not any(k.startswith("PATCH ") for k in stack.b2connect.calls)
    assert not any(k.startswith("POST ") for k in stack.hubspot.calls)


def test_reload_with_an_unresolvable_reference_keeps_the_old_config(
    daemon: DaemonProcess,
) -> None:
    """SIGHUP with `hash_key: ${B2SYNC_HASH_KEY}` unset: logged with file:line, old config kept."""
    text = daemon.config_path.read_text(encoding="utf-8")
    changed = text.replace(
        "version: 1\n", "version: 1\nhash_key: ${B2SYNC_HASH_KEY_UNSET}\n", 1
    ).replace(
        "  - name: companies-to-salesforce\n",
        "  - name: companies-to-salesforce\n    enabled: false\n",
    )
    daemon.config_path.write_text(changed, encoding="utf-8")
    line = _line_of(daemon.config_path, "hash_key:")
    daemon.signal(signal.SIGHUP)
    failed = wait_for(
        lambda: [e for e in daemon.events() if e["event"] == "config.reload_failed"],
        30,
        "the reload failure in the log",
    )
    assert any(f"{daemon.config_path}:{line}:" in at for at in failed[0]["at"])
    assert any("B2SYNC_HASH_KEY_UNSET" in issue for issue in failed[0]["issues"])
    assert not any(e["event"] == "config.reloaded" for e in daemon.events())
    names = {p["pipeline"] for p in daemon.status()["pipelines"]}
    assert "companies-to-salesforce" in names, "the old config still runs"
    assert daemon.proc is not None and daemon.proc.poll() is None
