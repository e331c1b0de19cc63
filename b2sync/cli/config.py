"""Config and store commands: ``check``, ``config schema``, ``db upgrade``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from b2sync.cli.common import (
    ConfigOption,
    exit_with_issues,
    fail,
    load_or_exit,
    state_url,
)
from mapping.config import json_schema
from sync.settings import secret_issues

__all__ = ["commands", "config_app", "db_app"]

#: top-level commands of this module (``check``)
commands = typer.Typer()
config_app = typer.Typer(help="Inspect the configuration format.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the state store.", no_args_is_help=True)


@commands.command()
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
