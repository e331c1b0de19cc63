"""What every ``b2sync`` command shares: the ``--config`` option, exit codes, config loading.

Exit codes: 0 success, 1 the work failed, 2 bad usage or bad config. Every command takes
``--config PATH`` after its own name (default ``$B2SYNC_CONFIG``, then ``./config.yaml``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from audit.errors import KeyChangedError, MasterKeyError
from b2sync.runtime import build_runner
from connectors.base import UnknownConnector
from connectors.errors import ConnectorError
from mapping.config import Config, ConfigError, ConfigIssue, Pipeline
from store import StoreConfigError, StoreUnavailable
from sync.crm_fields import crm_field_issues
from sync.push.in_hand import RecordsInMemoryError
from sync.runner import Runner
from sync.settings import SecretError, config_path, load_config, resolve, secret_issues

__all__ = [
    "EXIT_BAD_CONFIG",
    "EXIT_BUSY",
    "EXIT_FAILED",
    "ConfigOption",
    "exit_with_issues",
    "fail",
    "load_or_exit",
    "open_runner",
    "pipeline_or_exit",
    "refuse_missing_fields",
    "refuse_unresolved",
    "state_url",
]

EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2
#: the daemon (or another `b2sync sync`) kept running the pipeline for longer than --wait
EXIT_BUSY = 3

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $B2SYNC_CONFIG, then ./config.yaml).",
        show_default=False,
    ),
]


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    typer.echo(f"b2sync: {message}", err=True)
    raise typer.Exit(code)


def load_or_exit(config: Path | None) -> tuple[Path, Config]:
    """Load the config or print every problem and exit 2."""
    path = config_path(config)
    try:
        return path, load_config(path)
    except ConfigError as exc:
        exit_with_issues(path, exc.issues)


def pipeline_or_exit(cfg: Config, name: str) -> Pipeline:
    """The pipeline named ``name``, or exit 2 listing the known ones."""
    try:
        return cfg.pipeline(name)
    except KeyError as exc:
        fail(str(exc.args[0]), EXIT_BAD_CONFIG)


def exit_with_issues(path: Path, issues: Sequence[ConfigIssue]) -> NoReturn:
    """Print every issue (file:line:column: key.path: message) and exit 2."""
    for issue in issues:
        typer.echo(str(issue), err=True)
    noun = "problem" if len(issues) == 1 else "problems"
    typer.echo(f"b2sync: {path}: {len(issues)} {noun}; nothing was started", err=True)
    raise typer.Exit(EXIT_BAD_CONFIG)


def refuse_unresolved(path: Path, cfg: Config) -> None:
    """Exit 2 naming each reference (file:line, variable) this environment cannot resolve."""
    issues = secret_issues(path, cfg)
    if issues:
        exit_with_issues(path, issues)


@contextmanager
def open_runner(cfg: Config) -> Iterator[Runner]:
    """A runner, or one clear line and the right exit code."""
    try:
        runner = build_runner(cfg)
    except (
        SecretError,
        MasterKeyError,
        KeyChangedError,
        StoreConfigError,
        RecordsInMemoryError,
    ) as exc:
        fail(str(exc), EXIT_BAD_CONFIG)  # StoreConfigError: e.g. another tenant's SQLite file
    except StoreUnavailable as exc:
        fail(str(exc))
    try:
        yield runner
    except (SecretError, UnknownConnector) as exc:
        fail(str(exc), EXIT_BAD_CONFIG)
    except ConnectorError as exc:
        fail(f"{type(exc).__name__}: {exc.message}")
    finally:
        runner.close()


def refuse_missing_fields(path: Path, runner: Runner, pipelines: list[Pipeline]) -> None:
    """Exit 2 before any write when a mapped CRM field does not exist (file:line, a hint)."""
    missing = crm_field_issues(path, runner.config, pipelines, runner.connector)
    if missing:
        exit_with_issues(path, missing)


def state_url(cfg: Config) -> str:
    """The resolved state-store URL, or exit 2 naming the unresolved reference."""
    try:
        return resolve(cfg.state_url)
    except SecretError as exc:
        fail(f"state_url: {exc}", EXIT_BAD_CONFIG)
