"""The ``b2sync`` command line: the root Typer app and the config/store commands.

Exit codes: 0 success, 1 the work failed, 2 bad usage or bad config. Every command takes
``--config PATH`` after its own name (default ``$B2SYNC_CONFIG``, then ``./config.yaml``).
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from mapping.config import Config, ConfigError, json_schema
from sync.settings import SecretError, config_path, load_config, resolve, unresolved_references

__all__ = ["EXIT_BAD_CONFIG", "EXIT_FAILED", "ConfigOption", "app", "fail", "load_or_exit"]

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
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        noun = "problem" if len(exc.issues) == 1 else "problems"
        typer.echo(f"b2sync: {path}: {len(exc.issues)} {noun}; nothing was started", err=True)
        raise typer.Exit(EXIT_BAD_CONFIG) from None


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
    strict: Annotated[bool, typer.Option(help="Treat unset ${ENV} references as errors.")] = False,
) -> None:
    """Validate the config file; exit 2 listing every problem with file:line:column."""
    path, cfg = load_or_exit(config)
    unresolved = unresolved_references(cfg)
    for problem in unresolved:
        typer.echo(f"{path}: warning: {problem}", err=True)
    if unresolved and strict:
        raise typer.Exit(EXIT_BAD_CONFIG)
    typer.echo(
        f"{path}: OK: {len(cfg.connections)} connections, {len(cfg.pipelines)} pipelines"
        + (f" ({len(unresolved)} references unresolved in this environment)" if unresolved else "")
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
