"""Runs of one pipeline from several store connections race for its lease on one SQLite file."""

from __future__ import annotations

import threading
from collections import Counter

import sqlalchemy as sa

from b2sync.runtime import build_runner
from store.models import RunStatus
from sync.runner import Runner
from tests.e2e.conftest import E2E, FAST_RETRY

RUNNERS = 6
ATTEMPTS = 8


def test_racing_runs_take_turns_without_database_is_locked(e2e: E2E) -> None:
    """Several engines (like `b2sync sync` next to the daemon) racing for one pipeline's lease
    on one SQLite file: every attempt either runs or is told another run holds the lease;
    none fails with "database is locked"."""
    e2e.runner().close()  # migrate once, as the daemon's first start does
    pipe = e2e.config.pipeline("customers-to-hubspot")
    statuses: Counter[RunStatus] = Counter()
    failures: list[str] = []
    guard = threading.Lock()
    start = threading.Barrier(RUNNERS)

    def attempt(runner: Runner) -> None:
        try:
            summary = runner.run_pipeline(pipe, trigger="race")
        except sa.exc.OperationalError as exc:  # a crash outside the run's own guard
            with guard:
                failures.append(str(exc.orig))
            return
        with guard:
            statuses[summary.status] += 1
            if summary.status is RunStatus.FAILED:
                failures.append(summary.error or "failed")

    def process() -> None:
        # a Runner of its own: its own engine and connection pool, as another process has
        runner = build_runner(e2e.config, retry=FAST_RETRY, migrate=False)
        try:
            start.wait()
            for _ in range(ATTEMPTS):
                attempt(runner)
        finally:
            runner.close()

    threads = [threading.Thread(target=process) for _ in range(RUNNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a racing run hung"
    assert failures == [], f"runs failed while racing for the lease: {failures[:3]}"
    assert statuses[RunStatus.SUCCEEDED] >= 1, statuses
    assert sum(statuses.values()) == RUNNERS * ATTEMPTS
