"""``b2sync run``, ``b2sync reload`` and ``b2sync status``."""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import structlog
import typer
from rich.table import Table
from sqlalchemy.engine import make_url

from audit.errors import KeyChangedError, MasterKeyError
from b2sync.cli.common import (
    EXIT_BAD_CONFIG,
    ConfigOption,
    exit_with_issues,
    fail,
    load_or_exit,
    open_runner,
    refuse_missing_fields,
    refuse_unresolved,
    state_url,
)
from b2sync.cli.output import make_console
from b2sync.service import Daemon, parse_listen, pipeline_status, store_totals
from mapping.config import Config, ConfigError
from store import StoreConfigError, StoreUnavailable, make_engine
from store.models import RunStatus
from sync.logs import bind, configure_logging
from sync.push.in_hand import RecordsInMemoryError
from sync.runner import Runner
from sync.settings import SecretError

__all__ = ["commands", "default_pid_file"]

#: top-level commands of this module (``run``, ``reload``, ``status``)
commands = typer.Typer()

log = structlog.get_logger("b2sync.daemon")

PidFileOption = Annotated[
    Path | None,
    typer.Option(
        "--pid-file",
        help="PID file (default: next to the SQLite store, else ./b2sync.pid).",
        show_default=False,
    ),
]


def default_pid_file(cfg: Config) -> Path:
    """``<store>.pid`` next to a SQLite store file, else ``./b2sync.pid``."""
    url = make_url(state_url(cfg))
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).with_suffix(".pid")
    return Path("b2sync.pid")


def _run_once(runner: Runner, name: str) -> bool:
    """Run one pipeline (and its due dead letters); True when neither failed."""
    pipe = runner.config.pipeline(name)
    bind(pipeline=name)
    summary = runner.run_pipeline(pipe, trigger="schedule")
    replayed = runner.replay(pipe) if summary.status is RunStatus.SUCCEEDED else None
    log.info(
        "run.finished", status=summary.status.value, read=summary.counts["read"],
        written=summary.counts["written"], dead_lettered=summary.counts["dead_lettered"],
        api_calls=sum(summary.api_calls.values()), error=summary.error,
    )  # fmt: skip
    return all(s.status is not RunStatus.FAILED for s in (summary, replayed) if s is not None)


@commands.command()
def run(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option(help="Run every pipeline once, then exit.")] = False,
    listen: Annotated[
        str | None, typer.Option(help="HOST:PORT for the HTTP server (default: http.listen).")
    ] = None,
    pid_file: PidFileOption = None,
) -> None:
    """Run every enabled pipeline on its schedule, serve webhooks/health/metrics until SIGTERM."""
    configure_logging()
    path, cfg = load_or_exit(config)
    refuse_unresolved(path, cfg)
    if once:
        with open_runner(cfg) as runner:
            refuse_missing_fields(path, runner, runner.select(None))
            failed = [p.name for p in runner.select(None) if not _run_once(runner, p.name)]
        if failed:  # the exit code tells a scheduler (cron, k8s Job) that data did not move
            fail(f"{len(failed)} pipeline run(s) failed: {', '.join(failed)}")
        return
    try:
        parse_listen(listen or cfg.http.listen)
    except ValueError as exc:
        fail(f"--listen: {exc}", EXIT_BAD_CONFIG)
    daemon = Daemon(path, cfg, listen=listen, pid_file=pid_file or default_pid_file(cfg))
    try:
        code = daemon.serve()
    except ConfigError as exc:
        exit_with_issues(path, exc.issues)
    except (SecretError, MasterKeyError, KeyChangedError, RecordsInMemoryError) as exc:
        fail(str(exc), EXIT_BAD_CONFIG)
    except StoreUnavailable as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot serve HTTP on {listen or cfg.http.listen}: {exc}")
    raise typer.Exit(code)


@commands.command()
def reload(config: ConfigOption = None, pid_file: PidFileOption = None) -> None:
    """Ask the running daemon to re-read its config (SIGHUP through the PID file)."""
    _, cfg = load_or_exit(config)
    path = pid_file or default_pid_file(cfg)
    try:
        pid = int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        fail(f"no daemon PID in {path}; is `b2sync run` running?")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        fail(f"process {pid} from {path} is not running")
    except PermissionError:
        fail(f"not allowed to signal process {pid}")
    typer.echo(f"asked b2sync (pid {pid}) to reload its config")


@commands.command()
def status(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per pipeline: last run, outcome, records, lag, dead letters, conflicts, pause (store only)."""
    _, cfg = load_or_exit(config)
    try:
        engine = make_engine(state_url(cfg))
        pipelines = [p for p in cfg.pipelines if p.enabled]
        with engine.connect() as conn:
            rows = pipeline_status(conn, pipelines, datetime.now(UTC))
            totals = store_totals(conn)
        engine.dispose()
    except StoreConfigError as exc:  # another tenant's store
        fail(str(exc), EXIT_BAD_CONFIG)
    except StoreUnavailable as exc:
        fail(str(exc))
    except sa.exc.SQLAlchemyError as exc:
        fail(f"cannot read the state store ({type(exc).__name__}); run `b2sync db upgrade` first")
    if as_json:
        sys.stdout.write(json.dumps({**totals, "pipelines": rows}, indent=2) + "\n")
        return
    _print_status(rows, dict(totals))


def _print_status(rows: list[dict[str, Any]], totals: dict[str, int]) -> None:
    table = Table(title="b2sync status")
    for column in ("pipeline", "last run", "outcome", "read", "written", "failed", "calls",
                   "lag", "dead", "conflicts", "paused until"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("pipeline", "outcome") else "right")
    for row in rows:
        run = row["last_run"] or {}
        lag = row["lag_seconds"]
        table.add_row(
            row["pipeline"], (run.get("started_at") or "never")[:19], run.get("status", "-"),
            str(run.get("records_read", "-")), str(run.get("records_written", "-")),
            str(run.get("records_failed", "-")), str(run.get("api_calls", "-")),
            "-" if lag is None else f"{lag:.0f}s", str(row["dead_letters_pending"]),
            str(row["conflicts_open"]),
            row["paused_until"] or ("until resumed" if row.get("delete_breaker") else "-"),
        )  # fmt: skip
    console = make_console(markup=False)
    console.print(table)
    for row in rows:
        if row.get("delete_breaker"):
            console.print(f"{row['pipeline']}: {row['delete_breaker']['message']}")
    console.print(
        f"open conflicts {totals['conflicts_open']}, pending dead letters "
        f"{totals['dead_letters_pending']}, erasures pending {totals['erasures_pending']}"
    )
