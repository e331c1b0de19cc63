"""The ``b2sync`` command line: the root Typer app and the config/store commands.

Exit codes: 0 success, 1 the work failed, 2 bad usage or bad config. Every command takes
``--config PATH`` after its own name (default ``$B2SYNC_CONFIG``, then ``./config.yaml``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from mapping.config import Config, ConfigError, ConfigIssue, json_schema
from sync.settings import SecretError, config_path, load_config, resolve, secret_issues

__all__ = [
    "EXIT_BAD_CONFIG",
    "EXIT_FAILED",
    "ConfigOption",
    "app",
    "exit_with_issues",
    "fail",
    "load_or_exit",
    "refuse_unresolved",
]

EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2

app = typer.Typer(
    name="b2sync",
    help="Sync B2Connect with Salesforce and HubSpot: mappings, consent, erasure, audit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the configuration format.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the state store.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")

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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"b2sync {metadata.version('b2sync')}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """b2sync: keep B2Connect, Salesforce and HubSpot in step."""


@app.command()
def check(
    config: ConfigOption = None,
    strict: Annotated[
        bool,
        typer.Option(help="Treat unset ${ENV} references and a missing audit key as errors."),
    ] = False,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Also connect to each CRM and check that every mapped field exists.",
        ),
    ] = False,
) -> None:
    """Validate the config file; exit 2 listing every problem with file:line:column."""
    path, cfg = load_or_exit(config)
    unresolved = secret_issues(path, cfg)
    if unresolved and (strict or online):
        exit_with_issues(path, unresolved)
    for issue in unresolved:
        typer.echo(f"{issue.file}:{issue.line}:{issue.column}: warning: {issue.path}: "
                   f"{issue.message}", err=True)  # fmt: skip
    if online:
        from sync.crm_fields import check_online  # connects to the CRMs: only when asked

        issues = check_online(path, cfg)
        if issues:
            exit_with_issues(path, issues)
    typer.echo(
        f"{path}: OK: {len(cfg.connections)} connections, {len(cfg.pipelines)} pipelines"
        + (f" ({len(unresolved)} secrets not available in this environment)" if unresolved else "")
        + (", every mapped CRM field exists" if online else "")
    )


@config_app.command("schema")
def config_schema(
    config: ConfigOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of the config file (for editor validation and completion)."""
    del config  # accepted for uniformity; the schema does not depend on a config
    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")


def state_url(cfg: Config) -> str:
    """The resolved state-store URL, or exit 2 naming the unresolved reference."""
    try:
        return resolve(cfg.state_url)
    except SecretError as exc:
        fail(f"state_url: {exc}", EXIT_BAD_CONFIG)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply the state store's migrations up to the newest revision."""
    from store import StoreUnavailable, current_revision, make_engine, upgrade

    _, cfg = load_or_exit(config)
    url = state_url(cfg)
    try:
        engine = make_engine(url)
        upgrade(engine)
        revision = current_revision(engine)
    except StoreUnavailable as exc:
        fail(str(exc))
    typer.echo(
        f"state store at {engine.url.render_as_string(hide_password=True)}: revision {revision}"
    )
