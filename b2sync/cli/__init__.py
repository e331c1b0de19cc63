"""The ``b2sync`` command line: every command group, added in one explicit list.

Each module of this package owns one group of commands and exposes its Typer apps; nothing
registers itself by being imported. To add a command group:

1. write ``b2sync/cli/<group>.py`` with a ``typer.Typer`` (a named group, or ``commands`` for
   top-level commands) whose commands call library functions;
2. add it to :data:`TOP_LEVEL` or :data:`GROUPS` below, where it should appear in ``--help``.

Exit codes: 0 success, 1 the work failed, 2 bad usage or bad config.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer

from b2sync.cli import (
    audit,
    config,
    conflicts,
    consent,
    demo,
    erasure,
    insights,
    keys,
    service,
    sync_commands,
    worker,
)
from b2sync.cli.worker import select_tenant
from b2sync.demo import emulators

__all__ = ["GROUPS", "TOP_LEVEL", "app", "main"]

#: apps whose commands sit at the top level (``b2sync check``…), in ``--help`` order
TOP_LEVEL: tuple[typer.Typer, ...] = (
    config.commands,  # check
    audit.commands,  # ui
    sync_commands.commands,  # sync
    erasure.commands,  # erase
    demo.commands,  # demo
    service.commands,  # run, reload, status
    worker.commands,  # worker, scheduler
)

#: command groups (``b2sync <group> <command>``) as (name, app, help), in ``--help`` order;
#: help None keeps the group's own
GROUPS: tuple[tuple[str, typer.Typer, str | None], ...] = (
    ("config", config.config_app, None),
    ("db", config.db_app, None),
    ("deadletters", sync_commands.deadletters_app, None),
    ("audit", audit.audit_app, None),
    ("keys", keys.keys_app, None),
    ("mapping", sync_commands.mapping_app, None),
    ("consent", consent.consent_app, None),
    ("erasure", erasure.erasure_app, None),
    ("retention", erasure.retention_app, None),
    ("insights", insights.insights_app, None),
    ("report", insights.report_app, None),
    ("conflicts", conflicts.conflicts_app, None),
    ("pipelines", conflicts.pipelines_app, None),
    ("emulators", emulators.app, "Run the local B2Connect/HubSpot/Salesforce emulators."),
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"b2sync {metadata.version('b2sync')}")
        raise typer.Exit(0)


def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant",
            help="Act for this tenant of --tenants: its config, secrets and state store only.",
        ),
    ] = None,
    tenants: Annotated[
        Path | None,
        typer.Option("--tenants", envvar="B2SYNC_TENANTS", help="tenants.yaml (with --tenant)."),
    ] = None,
) -> None:
    """b2sync: keep B2Connect, Salesforce and HubSpot in step."""
    if tenant is not None:
        ctx.call_on_close(select_tenant(tenants, tenant))


def build_app() -> typer.Typer:
    """The root ``b2sync`` app with every command of :data:`TOP_LEVEL` and :data:`GROUPS`."""
    root = typer.Typer(
        name="b2sync",
        help="Sync B2Connect with Salesforce and HubSpot: mappings, consent, erasure, audit.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    root.callback()(_root)
    for commands in TOP_LEVEL:
        root.add_typer(commands)
    for name, group, help_text in GROUPS:
        if help_text is None:
            root.add_typer(group, name=name)
        else:
            root.add_typer(group, name=name, help=help_text)
    return root


app = build_app()


def main() -> None:
    """Console-script entry point."""
    app()
