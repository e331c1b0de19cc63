"""The ``b2sync`` command line: every command group, added in one explicit list.

Each module of this package owns one group of commands and exposes its Typer apps; nothing
registers itself by being imported. To add a command or a command group:

1. write ``b2sync/cli/<group>.py`` with a ``typer.Typer`` (a named group, or ``commands`` for
   top-level commands) whose commands call library functions;
2. add it to :data:`COMMANDS` below (name, module, attribute, its one-line help), where it
   should appear in ``--help``.

The modules are imported only when one of their commands runs, so ``b2sync --help`` starts
without loading the SDKs, SQLAlchemy or cryptography (:mod:`b2sync.cli.lazy`).

Exit codes: 0 success, 1 the work failed, 2 bad usage or bad config.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from b2sync.cli.lazy import LazyCommand, LazyGroup

__all__ = ["COMMANDS", "app", "build_app", "main"]

_CLI = "b2sync.cli"

#: every root command in ``--help`` order: top-level commands (``b2sync check``…), then
#: command groups (``b2sync <group> <command>``); each module is imported only when its
#: command runs (see :mod:`b2sync.cli.lazy`)
COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand("check", f"{_CLI}.config", "commands",
                "Validate the config file; exit 2 listing every problem with file:line:column."),
    LazyCommand("ui", f"{_CLI}.audit", "commands",
                "Serve the read-only compliance page (audit trail, erasures)."),
    LazyCommand("sync", f"{_CLI}.sync_commands", "commands",
                "Run pipelines once: backfill on the first run, incremental afterwards. Next "
                "to a running daemon, each pipeline waits for the daemon's run of it to finish "
                "(--wait)."),
    LazyCommand("erase", f"{_CLI}.erasure", "commands",
                "Erase a person everywhere (GDPR Art. 17): every CRM, B2Connect, local state, "
                "audit keys."),
    LazyCommand("demo", f"{_CLI}.demo", "commands",
                "Emulators + SQLite: backfill both CRMs, then sync shopper activity live."),
    LazyCommand("run", f"{_CLI}.service", "commands",
                "Run every enabled pipeline on its schedule, serve webhooks/health/metrics "
                "until SIGTERM."),
    LazyCommand("reload", f"{_CLI}.service", "commands",
                "Ask the running daemon to re-read its config (SIGHUP through the PID file)."),
    LazyCommand("status", f"{_CLI}.service", "commands",
                "Per pipeline: last run, outcome, records, lag, dead letters, conflicts, pause "
                "(store only)."),
    LazyCommand("worker", f"{_CLI}.worker", "commands",
                "Run a Celery worker: pipeline runs, webhook-driven runs and feature tasks."),
    LazyCommand("scheduler", f"{_CLI}.worker", "commands",
                "Enqueue every tenant's due runs (one queued run per tenant and pipeline)."),
    LazyCommand("front", f"{_CLI}.worker", "commands",
                "Serve every tenant's webhooks at /t/<tenant>/webhooks/...: verify, store, "
                "enqueue."),
    LazyCommand("config", f"{_CLI}.config", "config_app",
                "Inspect the configuration format.", group=True),
    LazyCommand("db", f"{_CLI}.config", "db_app", "Manage the state store.", group=True),
    LazyCommand("deadletters", f"{_CLI}.sync_commands", "deadletters_app",
                "Inspect and replay records the CRM rejected.", group=True),
    LazyCommand("audit", f"{_CLI}.audit", "audit_app",
                "The audit trail: verify the chain, search and export, shred, legal hold.",
                group=True),
    LazyCommand("keys", f"{_CLI}.keys", "keys_app",
                "The master key: rotate it (tombstones, data keys and the audit chain keep "
                "working).", group=True),
    LazyCommand("mapping", f"{_CLI}.sync_commands", "mapping_app",
                "Try field mappings without writing anything.", group=True),
    LazyCommand("consent", f"{_CLI}.consent", "consent_app",
                "Consent synced between B2Connect and the CRMs.", group=True),
    LazyCommand("erasure", f"{_CLI}.erasure", "erasure_app",
                "Follow GDPR erasure requests.", group=True),
    LazyCommand("retention", f"{_CLI}.erasure", "retention_app",
                "Purge people inactive for too long.", group=True),
    LazyCommand("insights", f"{_CLI}.insights", "insights_app",
                "Retention insights: explain, refresh.", group=True),
    LazyCommand("report", f"{_CLI}.insights", "report_app",
                "Reports for the CRM & retention programme.", group=True),
    LazyCommand("conflicts", f"{_CLI}.conflicts", "conflicts_app",
                "Decisions parked for a person: ambiguous matches, manual fields, restores.",
                group=True),
    LazyCommand("pipelines", f"{_CLI}.conflicts", "pipelines_app",
                "Operate pipelines (resume after a delete breaker).", group=True),
    LazyCommand("emulators", "b2sync.demo.emulators", "app",
                "Run the local B2Connect/HubSpot/Salesforce emulators.", group=True,
                override=True),
)  # fmt: skip


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
        from b2sync.cli.worker import select_tenant  # lazy: see b2sync.cli.lazy

        ctx.call_on_close(select_tenant(tenants, tenant))


class _Root(LazyGroup):
    """The root group: the commands of :data:`COMMANDS`, their help texts plain text,
    whatever Typer's Rich help makes of them.

    Typer renders every help text as Rich markup (``rich_markup_mode="rich"``), which would
    swallow bracketed words such as ``[erased]``; our help texts use no markup, so each one is
    escaped here, once per command as it is loaded. Flags show no ``<bool>`` type either.
    """

    table = COMMANDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_help(self)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        loaded = cmd_name in self.commands
        command = super().get_command(ctx, cmd_name)
        if command is not None and not loaded and command.help:
            command.help = escape(command.help)  # the stand-in of a command not loaded yet
        return command

    def load(self, name: str) -> Any:
        fresh = name not in self.commands
        command = super().load(name)
        if fresh:
            _plain_help(command)
        return command


def _plain_help(command: Any) -> None:
    """Escape ``command``'s help texts and blank its flags' type label, then its children's."""
    for attr in ("help", "short_help", "epilog"):
        text = getattr(command, attr, None)
        if text:
            setattr(command, attr, escape(text))
    context = command.context_class(command)
    for param in [*command.params, command.get_help_option(context)]:
        if param is None:
            continue
        if getattr(param, "help", None):
            param.help = escape(param.help)
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # typer would print "<bool>"
    for child in getattr(command, "commands", {}).values():
        _plain_help(child)


def build_app() -> typer.Typer:
    """The root ``b2sync`` app: every command of :data:`COMMANDS`, each module imported
    only when its command runs."""
    root = typer.Typer(
        name="b2sync",
        cls=_Root,
        help="Sync B2Connect with Salesforce and HubSpot: mappings, consent, erasure, audit.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    root.callback()(_root)
    return root


app = build_app()


def main() -> None:
    """Console-script entry point."""
    app()
