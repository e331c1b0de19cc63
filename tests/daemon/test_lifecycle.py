"""Signals: graceful SIGTERM during a backfill, SIGHUP reloads, `b2sync reload`, pid file."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.stack import EmulatorStack
from tests.daemon.conftest import B2SYNC, DaemonProcess, wait_for
from tests.e2e.conftest import by_key


@pytest.fixture
def big(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A daemon (not started) over a shop large enough that its backfill takes a while."""
    with EmulatorStack(customers=300, seed=11) as stack:
        proc = DaemonProcess(stack, tmp_path, grace="20s")
        try:
            yield proc
        finally:
            proc.close()


def _running(daemon: DaemonProcess) -> bool:
    return any(r["status"] == "running" for r in daemon.runs())


def test_sigterm_during_backfill_exits_cleanly_and_restart_finishes(big: DaemonProcess) -> None:
    """SIGTERM mid-backfill: exit 0 within the grace period; a restart ends with no duplicates."""
    big.start()
    wait_for(lambda: _running(big), 30, "a running backfill")
    big.signal(signal.SIGTERM)
    assert big.proc is not None
    assert big.proc.wait(timeout=40) == 0
    assert not _running(big), "every run is closed (finished or interrupted)"
    assert any(e["event"] == "daemon.stopped" for e in big.events())

    big.start()
    wait_for(big.all_synced, 90, "the restarted backfill")
    assert big.stop() == 0
    for system, obj, field in (
        ("hubspot", "contacts", "b2connect_id"),
        ("hubspot", "orders", "b2connect_id"),
        ("salesforce", "Contact", "B2Connect_Id__c"),
        ("salesforce", "B2C_Order__c", "B2Connect_Id__c"),
    ):
        grouped = by_key(getattr(big.stack, system).admin_list(obj), field)
        assert grouped, f"{system} {obj} were synced"
        assert all(len(v) == 1 for v in grouped.values()), f"duplicate {system} {obj}"
    orders = {o["id"] for o in big.stack.b2connect.admin_list("orders")}
    assert orders == set(by_key(big.stack.hubspot.admin_list("orders"), "b2connect_id"))


def test_sighup_with_a_broken_config_keeps_the_old_one(daemon: DaemonProcess) -> None:
    """A broken config on SIGHUP is logged and refused; webhooks still sync on the old config."""
    daemon.config_path.write_text("version: 1\npipelines: [oops\n", encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    wait_for(
        lambda: any(e["event"] == "config.reload_failed" for e in daemon.events()),
        30,
        "the reload failure in the log",
    )
    customer = daemon.stack.b2connect.admin_list("customers")[0]
    daemon.stack.b2connect.admin_patch("customers", customer["id"], {"lastName": "Kept"})
    wait_for(
        lambda: any(
            r["trigger"] == "webhook" and r["status"] == "succeeded" for r in daemon.runs()
        ),
        30,
        "a webhook run on the old config",
    )
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_reload_command_applies_a_valid_config(daemon: DaemonProcess) -> None:
    """`b2sync reload` signals the daemon through its pid file; a disabled pipeline drops out."""
    text = daemon.config_path.read_text(encoding="utf-8")
    disabled = text.replace(
        "  - name: companies-to-salesforce\n",
        "  - name: companies-to-salesforce\n    enabled: false\n",
    )
    daemon.config_path.write_text(disabled, encoding="utf-8")
    pid_file = daemon.tmp_path / "state.pid"
    assert pid_file.read_text(encoding="utf-8").strip() == str(daemon.proc and daemon.proc.pid)
    done = subprocess.run(
        [B2SYNC, "reload", "--config", str(daemon.config_path)],
        env=daemon.env(), capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    wait_for(
        lambda: (
            "companies-to-salesforce" not in {p["pipeline"] for p in daemon.status()["pipelines"]}
        ),
        30,
        "the reloaded pipeline list",
    )
    assert any(e["event"] == "config.reloaded" for e in daemon.events())
    assert daemon.stop() == 0
    assert not pid_file.exists()


def test_second_signal_exits_at_once(big: DaemonProcess) -> None:
    """A second stop signal during the graceful wait ends the process without waiting."""
    big.start()
    wait_for(lambda: _running(big), 30, "a running backfill")
    big.signal(signal.SIGTERM)
    big.signal(signal.SIGINT)
    assert big.proc is not None
    assert big.proc.wait(timeout=30) in (128 + signal.SIGINT, 128 + signal.SIGTERM)
