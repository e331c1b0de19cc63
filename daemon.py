"""b2sync entry point: assembles the command line and runs the long-lived service.

``b2sync`` (console script) → :func:`main`. The command groups live with the packages that
own them; this module sits on top of the import graph and wires them together, and owns
``b2sync run``: every enabled pipeline on its schedule (APScheduler), one run at a time per
pipeline, missed runs coalesced, until SIGTERM/SIGINT.
"""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated

import structlog
import typer
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

import sync.commands
import sync.demo  # noqa: F401 - registers `b2sync demo`
from emulators.cli import app as emulators_app
from mapping.config import Pipeline
from store.models import RunStatus
from sync.cli import ConfigOption, app, load_or_exit
from sync.commands import open_runner
from sync.logs import bind, configure_logging
from sync.runner import Runner

__all__ = ["app", "main"]

log = structlog.get_logger("b2sync.daemon")

app.add_typer(
    emulators_app, name="emulators", help="Run the local B2Connect/HubSpot/Salesforce emulators."
)


def _trigger(pipe: Pipeline) -> IntervalTrigger | CronTrigger:
    seconds = pipe.schedule.seconds
    if seconds is not None:
        return IntervalTrigger(seconds=seconds, timezone=UTC)
    assert pipe.schedule.cron is not None
    return CronTrigger.from_crontab(pipe.schedule.cron, timezone=UTC)


def _run_once(runner: Runner, name: str) -> None:
    pipe = runner.config.pipeline(name)
    bind(pipeline=name)
    summary = runner.run_pipeline(pipe, trigger="schedule")
    if summary.status is RunStatus.SUCCEEDED:
        runner.replay(pipe)
    log.info(
        "run.finished",
        status=summary.status.value,
        read=summary.counts["read"],
        written=summary.counts["written"],
        dead_lettered=summary.counts["dead_lettered"],
        api_calls=sum(summary.api_calls.values()),
        error=summary.error,
    )


@app.command()
def run(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option(help="Run every pipeline once, then exit.")] = False,
) -> None:
    """Run every enabled pipeline on its schedule until SIGTERM or SIGINT."""
    configure_logging()
    _, cfg = load_or_exit(config)
    stop = threading.Event()
    with open_runner(cfg) as runner:
        runner.stop = stop
        pipelines = runner.select(None)
        if once:
            for pipe in pipelines:
                _run_once(runner, pipe.name)
            return
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        for pipe in pipelines:
            scheduler.add_job(
                _run_once, _trigger(pipe), args=[runner, pipe.name], id=pipe.name,
                name=pipe.name, next_run_time=datetime.now(UTC),
            )  # fmt: skip
        _install_signals(stop)
        scheduler.start()
        log.info("daemon.started", pipelines=[p.name for p in pipelines])
        stop.wait()
        log.info("daemon.stopping")
        scheduler.shutdown(wait=True)
        log.info("daemon.stopped")


def _install_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # second signal: leave at once
            os._exit(128 + signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
