"""``b2sync erase``, ``b2sync erasure status|process`` and ``b2sync retention run``.

Exit codes: 0 done (or filed and in progress), 1 the work failed (a system refused, an
unknown subject, a person known in no system: the request stays filed), 2 bad usage (no identifier, a malformed email, an unknown tenant).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

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
from consent.erasure.model import SubjectIds
from consent.erasure.process import StepOutcome
from consent.erasure.report import (
    KNOWN_NOWHERE,
    erasure_status,
    known_nowhere,
    record_known_nowhere,
)
from consent.erasure.service import desk_for, processor_for
from store import begin_write
from sync.logs import configure_logging

__all__ = ["commands", "erasure_app", "retention_app"]

#: top-level commands of this module (``erase``)
commands = typer.Typer()

erasure_app = typer.Typer(help="Follow GDPR erasure requests.", no_args_is_help=True)
retention_app = typer.Typer(help="Purge people inactive for too long.", no_args_is_help=True)

_BAD_INPUT = {"rejected", "unknown_tenant"}


@commands.command()
def erase(
    email: Annotated[str | None, typer.Option(help="The person's email address.")] = None,
    customer_id: Annotated[
        str | None, typer.Option("--customer-id", help="The B2Connect customer id.")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="B2Connect tenant (if several).")] = None,
    config: ConfigOption = None,
    process: Annotated[
        bool, typer.Option("--process/--no-process", help="Run the steps now (default).")
    ] = True,
) -> None:
    """Erase a person everywhere (GDPR Art. 17): every CRM, B2Connect, local state, audit keys."""
    configure_logging(level="warning")
    if not email and not customer_id:
        fail("give --email or --customer-id", EXIT_BAD_CONFIG)
    _, cfg = load_or_exit(config)
    console = make_console()
    with open_runner(cfg) as runner:
        intake = desk_for(runner).file(
            SubjectIds(email=email, customer_id=customer_id), tenant=tenant
        )
        if not intake.ok:
            code = EXIT_BAD_CONFIG if intake.status in _BAD_INPUT else EXIT_FAILED
            fail(f"{intake.status.replace('_', ' ')}: {intake.message}", code)
        console.print(f"{intake.status}: {intake.message}")
        if process and intake.request_id is not None:
            _print_outcomes(console, processor_for(runner).process(intake.request_id))
        with runner.db.connect() as conn:
            rows = erasure_status(conn, runner.clock(), request_id=intake.request_id)
        nowhere = bool(rows) and process and known_nowhere(rows[0]["steps"])
        if nowhere:
            with begin_write(runner.db) as conn:
                subject = SubjectIds(email=email, customer_id=customer_id)
                who = subject.customer_id or subject.email
                record_known_nowhere(conn, runner.audit_keys, rows[0], who, runner.clock())
    _print_requests(console, rows)
    if nowhere:
        console.print(KNOWN_NOWHERE, markup=False)
        raise typer.Exit(EXIT_FAILED)
    if rows and rows[0]["status"] == "failed":
        raise typer.Exit(EXIT_FAILED)


@erasure_app.command("status")
def status(
    config: ConfigOption = None,
    overdue: Annotated[bool, typer.Option(help="Only open requests past their deadline.")] = False,
    request: Annotated[int | None, typer.Option("--id", help="One request.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Erasure requests with each system's status, attempts, next attempt and deadline."""
    configure_logging(level="warning")
    _, cfg = load_or_exit(config)
    with open_runner(cfg) as runner, runner.db.connect() as conn:
        rows = erasure_status(conn, runner.clock(), overdue=overdue, request_id=request)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    _print_requests(make_console(), rows)


@erasure_app.command("process")
def process_now(
    config: ConfigOption = None,
    request: Annotated[int | None, typer.Option("--id", help="Only this request.")] = None,
    force: Annotated[bool, typer.Option(help="Also steps waiting for their next attempt.")] = False,
) -> None:
    """Run the due erasure steps now (the daemon does this every minute)."""
    configure_logging(level="warning")
    _, cfg = load_or_exit(config)
    console = make_console()
    with open_runner(cfg) as runner:
        outcomes = processor_for(runner).process(request, force=force)
    _print_outcomes(console, outcomes)
    if not outcomes:
        console.print("no erasure step is due")


def _print_outcomes(console: Any, outcomes: list[StepOutcome]) -> None:
    for o in outcomes:
        when = f" (next attempt {o.next_attempt_at.isoformat()})" if o.next_attempt_at else ""
        console.print(f"request {o.request_id} · {o.system}: {o.status.value}{when} · {o.detail}")


def _print_requests(console: Any, rows: list[dict[str, Any]]) -> None:
    table = Table(title="Erasure requests")
    for name in ("id", "tenant", "status", "due", "per system"):
        table.add_column(name)
    for row in rows:
        systems = "\n".join(
            f"{s['system']}: {s['finding']}"
            + (f" (next {s['next_attempt_at']})" if s["next_attempt_at"] else "")
            + (f" · {s['detail']}" if s["detail"] else "")
            for s in row["steps"]
        )
        late = " [red]OVERDUE[/]" if row["overdue"] else ""
        table.add_row(
            str(row["id"]),
            row["tenant_id"],
            row["status"] + late,
            row["due_at"][:10],
            systems or (row["last_error"] or ""),
        )
    console.print(table)


@retention_app.command("run")
def retention_run(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List who would be affected; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Apply the ``retention:`` policy now (customer ids and counts only, never emails)."""
    from consent.erasure.retention import run_retention

    configure_logging(level="warning")
    _, cfg = load_or_exit(config)
    if cfg.retention is None:
        fail("the config has no retention: section (see docs/config.schema.json)", EXIT_BAD_CONFIG)
    with open_runner(cfg) as runner:
        report = run_retention(runner, dry_run=dry_run)
    data = report.as_dict()
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    console = make_console()
    verb = "would be" if dry_run else "were"
    console.print(
        f"{report.inactive} of {report.scanned} customers inactive since {data['cutoff'][:10]} "
        f"{verb} handled by '{report.action}' ({report.held} under legal hold, left alone)"
    )
    for customer_id in report.customer_ids:
        console.print(f"  {customer_id}")
    if report.outcomes:
        console.print(", ".join(f"{k}: {v}" for k, v in sorted(report.outcomes.items())))
