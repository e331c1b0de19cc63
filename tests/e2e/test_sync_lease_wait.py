"""Issue 20 item 12, the quick half: `b2sync sync` finds the pipeline's lease held by a live
run of the daemon (taken here the way the daemon takes it), says it waits, and gives up after
--wait with exit code 3 and nothing written; the slow half (a real daemon) is in
tests/daemon/test_sync_beside_daemon.py."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime

from sync import leases
from sync.run import LOCK_TTL
from tests.e2e.conftest import E2E
from tests.e2e.test_cli_sync import cli


def test_sync_gives_up_on_a_held_pipeline_with_exit_3(e2e: E2E) -> None:
    runner = e2e.runner()
    try:
        run_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        assert leases.start_locked_run(
            runner.db, "pipeline:customers-to-hubspot", run_id=run_id,
            owner=f"{socket.gethostname()}:{os.getpid()}:{run_id}",
            pipeline="customers-to-hubspot", trigger="schedule", now=now, ttl=LOCK_TTL,
            stale=lambda _owner: False,
        )  # fmt: skip
    finally:
        runner.close()
    result = cli(
        e2e, "sync", "customers-to-hubspot", "--wait", "0.1", "--config", str(e2e.config_path)
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "waiting for the daemon's run of customers-to-hubspot to finish" in result.stdout
    assert "gave up after --wait 0.1s" in result.stderr
    assert "Traceback" not in result.stderr
    assert e2e.calls("hubspot").get("POST /crm/v3/objects/{object_type}/batch/upsert", 0) == 0
