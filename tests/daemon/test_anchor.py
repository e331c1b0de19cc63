"""`b2sync run` anchors the audit chain heads outside the database on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators.stack import EmulatorStack
from tests.daemon.conftest import DaemonProcess, fresh, wait_for


@pytest.mark.slow
def test_daemon_appends_signed_heads_and_logs_them(stack: EmulatorStack, tmp_path: Path) -> None:
    """Shortly after start the daemon's anchor task appends one signed line per tenant to
    audit.anchor_path (created 0600) and logs the same head as `audit.anchor`."""
    fresh(stack)
    anchors = tmp_path / "anchor" / "audit.jsonl"
    proc = DaemonProcess(stack, tmp_path)
    text = proc.config_path.read_text(encoding="utf-8")
    proc.config_path.write_text(
        text.replace(
            "audit:\n  enabled: true", f"audit:\n  enabled: true\n  anchor_path: {anchors}"
        ),
        encoding="utf-8",
    )
    try:
        proc.start()
        wait_for(anchors.exists, 90, "the anchor file")
        lines = [json.loads(line) for line in anchors.read_text(encoding="utf-8").splitlines()]
        logged = wait_for(
            lambda: [e for e in proc.events() if e.get("event") == "audit.anchor"], 10, "the log"
        )
    finally:
        proc.close()
    assert anchors.stat().st_mode & 0o777 == 0o600
    assert lines and all(len(x["mac"]) == 64 for x in lines)
    assert {(x["tenant"], x["seq"], x["hash"]) for x in lines} <= {
        (e["tenant_id"], e["seq"], e["head_hash"]) for e in logged
    }
