"""``b2sync consent sync`` and ``b2sync consent show --email X [--json]``.

Exit codes: 0 done, 1 the work failed (a system could not be read or written, an unknown
person), 2 bad usage (no ``consent:`` section, a malformed email).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from b2sync.cli.common import (
    EXIT_BAD_CONFIG,
    EXIT_FAILED,
    ConfigOption,
    fail,
    load_or_exit,
    open_runner,
)
from b2sync.cli.output import make_console
from consent.consent_service import consent_sync_for, consent_view, tenants, valid_email
from sync.logs import configure_logging

__all__ = ["consent_app"]

consent_app = typer.Typer(
    help="Consent synced between B2Connect and the CRMs.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@consent_app.command("sync")
def consent_sync(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Run the consent sync once: read every system, decide, propagate."""
    configure_logging(level="warning")
    _, cfg = load_or_exit(config)
    if cfg.consent is None:
        fail("the config has no consent: section; see docs/consent.md", EXIT_BAD_CONFIG)
    console = make_console(markup=False)
    with open_runner(cfg) as runner:
        try:
            job = consent_sync_for(runner)
        except ValueError as exc:
            fail(str(exc), EXIT_BAD_CONFIG)
        summary = job.run()
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        table = Table(title="consent sync")
        for column in ("system", "facts read", "applied", "not applied", "not there", "failed"):
            table.add_column(column, justify="left" if column == "system" else "right")
        for system in (
            "b2connect",
            "hubspot",
            "salesforce",
            "salesforce_records",
            "salesforce_individual",
        ):
            table.add_row(
                system,
                *(
                    str(counts.get(system, 0))
                    for counts in (
                        summary.facts,
                        summary.applied,
                        summary.not_applied,
                        summary.absent,
                        summary.failed,
                    )
                ),
            )
        console.print(table)
        console.print(
            f"decisions: {summary.decisions}, archived: {summary.archived}, "
            f"released from hold: {summary.released}"
        )
        for reason in summary.reasons:
            console.print(f"not applied: {reason}")
    if not summary.ok:
        fail("; ".join(summary.errors), EXIT_FAILED)


@consent_app.command("show")
def consent_show(
    email: Annotated[str, typer.Option(help="The person's email address.")],
    tenant: Annotated[str | None, typer.Option(help="B2Connect tenant (if several).")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Current consent of one person per channel and purpose, with where it came from."""
    configure_logging(level="warning")
    if not valid_email(email):
        fail(f"'{email}' is not an email address", EXIT_BAD_CONFIG)
    _, cfg = load_or_exit(config)
    with open_runner(cfg) as runner:
        known = tenants(runner)
        if tenant is not None and tenant not in known:
            fail(
                f"unknown tenant '{tenant}'; configured: {', '.join(sorted(known))}",
                EXIT_BAD_CONFIG,
            )
        view = consent_view(runner, email, tenant=tenant)
    if as_json:
        typer.echo(json.dumps(view.to_dict(), indent=2))
    if not view.known:
        fail("no consent is recorded for this email (run `b2sync consent sync` first?)")
    if as_json:
        return
    table = Table(title="consent")
    for column in (
        "channel",
        "purpose",
        "status",
        "decided at",
        "source",
        "legal basis",
        "wording",
    ):
        table.add_column(column)
    table.add_column("held by systems")
    for row in view.to_dict()["consents"]:
        systems = ", ".join(
            f"{name}: {s['status']}"
            + (f" (not applied: {s['not_applied']})" if s["not_applied"] else "")
            for name, s in row["systems"].items()
        )
        table.add_row(
            row["channel"],
            row["purpose"],
            row["status"],
            row["decided_at"] or "",
            row["source_system"],
            row["legal_basis"] or "",
            row["wording_version"] or "",
            systems,
        )
    make_console(markup=False).print(table)
