"""The long-running service: start store → runner → scheduler → HTTP, stop in reverse.

Signals only set flags and queue a word (``SimpleQueue.put`` is safe in a handler); the main
thread waits on that queue, never on ``time.sleep``. First SIGTERM/SIGINT: no new work, the
runner's stop event ends running batches at the next boundary, wait up to the grace period,
exit 0. A second one exits at once. SIGHUP reloads the config between runs.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import sqlalchemy as sa
import structlog

from audit.errors import KeyChangedError, MasterKeyError
from b2sync.features import FEATURES
from b2sync.runtime import build_runner
from b2sync.service._http import HttpServer
from b2sync.service._metrics import Metrics
from b2sync.service._scheduler import PipelineScheduler
from b2sync.service._status import pipeline_status, store_totals
from b2sync.service._webhook_ledger import Ledger, StoreLedger
from mapping.config import Config, ConfigError
from store import StoreUnavailable
from sync.crm_fields import crm_field_issues
from sync.runner import Runner
from sync.settings import SecretError, load_config, resolve, secret_issues

__all__ = ["Daemon", "parse_listen"]

log = structlog.get_logger("b2sync.daemon")
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); ValueError if malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"'{value}' is not HOST:PORT")
    return host, int(port)


class Daemon:
    """``b2sync run``: scheduler + HTTP server around one :class:`Runner`."""

    def __init__(
        self,
        config_path: Path,
        config: Config,
        *,
        listen: str | None = None,
        pid_file: Path | None = None,
        runner_factory: Callable[[Config], Runner] = build_runner,
        debounce_s: float = 0.5,
        stuck_after_s: float = 3600.0,
    ) -> None:
        self.config_path = config_path
        self._config = config
        self.listen = parse_listen(listen or config.http.listen)
        self.pid_file = pid_file
        self._factory = runner_factory
        self._debounce = debounce_s
        self.stuck_after_s = stuck_after_s
        self.seen: Ledger = StoreLedger(lambda: self.runner)
        self.version = metadata.version("b2sync")
        self._inbox: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stopping = False
        self._runner: Runner | None = None
        self._scheduler: PipelineScheduler | None = None
        self._http: HttpServer | None = None
        #: every feature's daemon tasks, in the features' order
        self.tasks = [task(lambda: self.runner) for f in FEATURES for task in f.tasks]
        self.metrics = Metrics(lambda: self.runner.db, lambda: self.runner.select(None))

    # ------------------------------------------------------------------ parts

    @property
    def runner(self) -> Runner:
        assert self._runner is not None, "the daemon is not started"
        return self._runner

    @property
    def scheduler(self) -> PipelineScheduler:
        assert self._scheduler is not None, "the daemon is not started"
        return self._scheduler

    # ------------------------------------------------------------------ lifecycle

    def serve(self) -> int:
        """Run until a stop signal; returns the exit code."""
        self._install_signals()
        # Threads inherit the signal mask: blocked while they are created, the signals can only
        # reach the main thread, whose wait they interrupt so that the handlers run at once.
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            self.start()
        except BaseException:
            self.stop()  # whatever did start (scheduler, runner) must not outlive the error
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        try:
            while True:
                word = self._inbox.get()
                if word == "stop":
                    break
                if word == "reload" and not self._stopping:
                    self.reload()
        finally:
            code = self.stop()
        return code

    def start(self) -> None:
        """Start the components in dependency order."""
        logging.getLogger("apscheduler").setLevel(logging.ERROR)  # skips are handled, not news
        self._runner = self._factory(self._config)
        pipelines = self.runner.select(None)
        self._refuse_missing_fields(self.runner, self._config)
        self._scheduler = PipelineScheduler(
            lambda: self.runner, self.metrics, workers=len(pipelines) + 1, debounce_s=self._debounce
        )
        self.scheduler.start(pipelines)
        self._schedule_tasks()
        self._http = HttpServer(self, *self.listen)
        host, port = self._http.start()
        self._write_pid()
        log.info(
            "daemon.started", listen=f"{host}:{port}", pid=os.getpid(),
            pipelines=[p.name for p in pipelines],
        )  # fmt: skip

    def request_stop(self) -> None:
        """Stop taking work and end running batches at the next boundary."""
        self._stopping = True
        if self._runner is not None:
            self._runner.stop.set()
        self._inbox.put("stop")

    def stop(self) -> int:
        """Stop in reverse order, waiting up to the grace period for running batches."""
        log.info("daemon.stopping", grace_s=self._config.http.grace_seconds)
        self.request_stop()
        if self._http is not None:
            self._http.stop()
        finished = True
        if self._scheduler is not None:
            self._scheduler.pause()
            # tasks too: a consent sync or an insights refresh in progress would otherwise
            # keep the process alive after "daemon.stopped", past any grace period
            finished = self._scheduler.wait_idle(self._config.http.grace_seconds, tasks=True)
            self._scheduler.shutdown()
        self._remove_pid()
        if not finished:
            log.error(
                "daemon.grace_expired",
                running=sorted(self.scheduler.running_since()),
                tasks=self.scheduler.tasks_running(),
            )
            os._exit(1)  # runs would block the interpreter's exit; writes replay safely
        if self._runner is not None:
            self._runner.close()
        log.info("daemon.stopped")
        return 0

    def reload(self) -> bool:
        """Re-read and validate the config; apply it between runs, or keep the old one."""
        log.info("config.reload_requested")
        try:
            config = load_config(self.config_path)
            unresolved = secret_issues(self.config_path, config)
            if unresolved:
                raise ConfigError(unresolved)
            runner = self._factory(config)
        except ConfigError as exc:
            self._reload_failed(exc)
            return False
        except (SecretError, StoreUnavailable, MasterKeyError, KeyChangedError) as exc:
            log.error("config.reload_failed", error=type(exc).__name__, kept="old")
            return False
        try:
            self._refuse_missing_fields(runner, config)
        except ConfigError as exc:
            runner.close()
            self._reload_failed(exc)
            return False
        if config.http.listen != self._config.http.listen:
            log.warning("config.listen_changed", detail="a new http.listen needs a restart")
        runner.stop = self.runner.stop
        self.scheduler.pause()
        self.scheduler.wait_idle(None)
        old, self._runner, self._config = self.runner, runner, config
        old.close()
        self.scheduler.apply(runner.select(None))
        self._schedule_tasks()
        if not self._stopping:
            self.scheduler.resume()
        log.info("config.reloaded", pipelines=[p.name for p in runner.select(None)])
        return True

    def _schedule_tasks(self) -> None:
        """(Re)schedule every feature's tasks for the current config."""
        for tasks in self.tasks:
            tasks.schedule(self.scheduler)

    def _refuse_missing_fields(self, runner: Runner, config: Config) -> None:
        """ConfigError naming each mapped CRM field its CRM does not have (file:line)."""
        issues = crm_field_issues(self.config_path, config, runner.select(None), runner.connector)
        if issues:
            raise ConfigError(issues)

    @staticmethod
    def _reload_failed(exc: ConfigError) -> None:
        where = [f"{i.file}:{i.line}:{i.column}" for i in exc.issues[:5]]
        log.error(
            "config.reload_failed", problems=len(exc.issues), at=where,
            issues=[str(i) for i in exc.issues[:5]], kept="old",
        )  # fmt: skip

    # ------------------------------------------------------------------ signals, pid

    def _install_signals(self) -> None:
        def on_stop(signum: int, _frame: FrameType | None) -> None:
            if self._stopping:
                os._exit(128 + signum)  # second signal: leave at once
            self.request_stop()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            self._inbox.put("reload")

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    def _write_pid(self) -> None:
        if self.pid_file is None:
            return
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")

    def _remove_pid(self) -> None:
        if self.pid_file is None:
            return
        try:
            if self.pid_file.read_text(encoding="utf-8").strip() == str(os.getpid()):
                self.pid_file.unlink()
        except OSError:
            pass

    # ------------------------------------------------------------------ what HTTP asks

    def config(self) -> Config:
        return self._config

    def now(self) -> float:
        return time.time()

    def mark_due(self, names: list[str], trigger: str, keys: list[str] | None = None) -> None:
        if self._stopping or self._scheduler is None:
            return
        for name in names:
            self._scheduler.mark_due(name, trigger, keys or ())

    def file_erasures(self, items: list[Any]) -> None:
        """The requests are in the store's inbox already (see StoreLedger): file them soon."""
        del items
        if self._stopping or self._scheduler is None:
            return
        self._scheduler.kick_task("erasure")

    def count_webhook(self, source: str, outcome: str) -> None:
        self.metrics.webhooks.labels(source, outcome).inc()

    def status_token(self) -> str | None:
        return _secret(self._config.http.status_token)

    def metrics_token(self) -> str | None:
        return _secret(self._config.http.metrics_token)

    def readiness(self) -> dict[str, Any]:
        try:
            with self.runner.db.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            store_ok = True
        except sa.exc.SQLAlchemyError:
            store_ok = False
        now = datetime.now(UTC)
        stuck = sorted(
            name
            for name, since in self.scheduler.running_since().items()
            if (now - since).total_seconds() > self.stuck_after_s
        )
        running = self.scheduler.running and not self._stopping
        return {
            "ready": store_ok and running and not stuck,
            "store": store_ok,
            "scheduler": running,
            "stuck": stuck,
        }

    def status(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        running = self.scheduler.running_since()
        with self.runner.db.connect() as conn:
            rows = pipeline_status(conn, self.runner.select(None), now)
            totals = store_totals(conn)
        for row in rows:
            since = running.get(row["pipeline"])
            row["running_since"] = since.isoformat() if since else None
        return {
            "generated_at": now.isoformat(),
            "scheduler_running": self.scheduler.running,
            **totals,
            "pipelines": rows,
        }

    def metrics_text(self) -> bytes:
        return self.metrics.render()


def _secret(ref: str | None) -> str | None:
    """The resolved secret behind ``ref``; None when unset, empty or unresolvable."""
    if ref is None:
        return None
    try:
        return resolve(ref) or None
    except SecretError:
        return None
