"""Issue 20 item 9: every line of a run names its pipeline (or task) and run id, and the
stdlib loggers (uvicorn, alembic, apscheduler) come out in the same JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import sqlalchemy as sa

from emulators import FaultPlan
from emulators.stack import EmulatorStack
from tests.daemon.conftest import B2SYNC, DaemonProcess, fresh, wait_for
from tests.e2e.conftest import MASTER_KEY, config_for

#: loggers whose lines are written inside a pipeline run or a task, never outside one
RUN_LOGGERS = ("sync.", "connectors.", "consent.", "insights.", "audit.")
HS_UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"


def _json_lines(text: str) -> list[dict[str, object]]:
    """Every non-blank line parsed as JSON (a line that is not fails the test)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_daemon_run_lines_carry_pipeline_and_run_id(daemon: DaemonProcess) -> None:
    """The backfill's lines (engine, connectors, consent task) and `run.finished` carry the
    run's context; uvicorn's and alembic's lines are JSON too."""
    wait_for(
        lambda: any(e.get("event") == "consent.run_finished" for e in daemon.events()),
        60,
        "the consent task's first run",
    )
    assert daemon.stop() == 0
    lines = _json_lines(daemon.log())
    finished = [line for line in lines if line["event"] == "run.finished"]
    runs = {row["id"]: row["pipeline"] for row in daemon.runs()}
    assert len(finished) >= len(daemon.config.pipelines)
    for line in finished:
        assert runs[line["run_id"]] == line["pipeline"], line
    in_runs = [line for line in lines if str(line.get("logger", "")).startswith(RUN_LOGGERS)]
    assert in_runs
    for line in in_runs:
        assert line.get("run_id") and (line.get("pipeline") or line.get("task")), line
    assert {line["task"] for line in in_runs if "task" in line} >= {"consent"}
    loggers = {str(line.get("logger")) for line in lines}
    assert {"uvicorn.error", "alembic.runtime.migration"} <= loggers


def test_sync_command_stderr_is_json_with_run_context(stack: EmulatorStack, tmp_path: Path) -> None:
    """`b2sync sync` off a TTY: its stderr is JSON lines only (the summary goes to stdout); a
    retry warning inside the run carries the pipeline and the id of the run it recorded."""
    fresh(stack)
    work = tmp_path
    _config, path = config_for(work)
    stack.hubspot.faults = FaultPlan.from_json(
        {"rules": [{"match": HS_UPSERT, "status": 503, "times": 1}]}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
    env.update(stack.env(), B2SYNC_MASTER_KEY=MASTER_KEY)
    try:
        done = subprocess.run(
            [B2SYNC, "sync", "customers-to-hubspot", "--config", str(path)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        stack.hubspot.faults = FaultPlan.from_json({"rules": []})
    assert done.returncode == 0, done.stderr
    engine = sa.create_engine(f"sqlite:///{work}/state.db")
    with engine.connect() as conn:
        run_ids = {r.id for r in conn.execute(sa.text("SELECT id FROM runs"))}
    engine.dispose()
    logged = _json_lines(done.stderr)
    retries = [line for line in logged if line["event"] == "connector.retry"]
    assert retries, done.stderr
    for line in retries:
        assert line["pipeline"] == "customers-to-hubspot"
        assert line["run_id"] in run_ids
