"""``b2sync conflicts list|show|resolve`` and ``b2sync pipelines resume`` (operator commands).

Resolving a conflict and resuming a pipeline are recorded in the audit trail (actor
``operator:<user>``) in the transaction that changes the state, when the trail is enabled.
Exit codes: 0 done, 1 the work failed, 2 bad usage (unknown id, already resolved, bad choice).
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from audit import AuditEvent, record_events
from audit.events import OPERATOR_COMMAND
from b2sync.cli.common import (
    EXIT_BAD_CONFIG,
    EXIT_FAILED,
    ConfigOption,
    fail,
    load_or_exit,
    open_runner,
    pipeline_or_exit,
)
from b2sync.cli.output import make_console
from connectors.errors import ConnectorError
from store import begin_write
from sync.breaker import reset, tripped
from sync.conflicts.resolution import resolve
from sync.conflicts.store import ConflictRow, get_conflict, list_conflicts
from sync.errors import ResolveError

__all__ = ["conflicts_app", "pipelines_app"]

conflicts_app = typer.Typer(
    help="Decisions parked for a person: ambiguous matches, manual fields, restores.",
    no_args_is_help=True,
)
pipelines_app = typer.Typer(help="Operate pipelines (resume after a delete breaker).")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ActorOption = Annotated[
    str | None,
    typer.Option("--actor", help="Who is deciding (default: the login name).", show_default=False),
]


def _actor(name: str | None) -> str:
    if not name:
        try:
            name = getpass.getuser()
        except (OSError, KeyError):
            name = "unknown"
    return f"operator:{name}"


@conflicts_app.command("list")
def list_command(
    config: ConfigOption = None,
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind (e.g. manual_rule).")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Resolved ones too.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 200,
    as_json: JsonOption = False,
) -> None:
    """Open conflicts (oldest first)."""
    _, cfg = load_or_exit(config)
    with open_runner(cfg) as runner, runner.db.connect() as conn:
        rows = list_conflicts(
            conn, pipeline=pipeline, status=None if show_all else "open", kind=kind, limit=limit
        )
    if as_json:
        sys.stdout.write(json.dumps([r.to_json() for r in rows], indent=2) + "\n")
        return
    table = Table(title=f"{len(rows)} conflicts")
    for column in ("id", "pipeline", "record", "field", "kind", "status", "created"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for row in rows:
        table.add_row(
            str(row.id), row.pipeline, row.record_key, row.field or "-", row.kind, row.status,
            row.created_at.isoformat()[:19],
        )  # fmt: skip
    make_console(markup=False).print(table)


def _load(cfg_path: Any, conflict_id: int) -> tuple[Any, ConflictRow]:
    _, cfg = load_or_exit(cfg_path)
    with open_runner(cfg) as runner, runner.db.connect() as conn:
        row = get_conflict(conn, conflict_id)
    if row is None:
        fail(f"no conflict {conflict_id}; see `b2sync conflicts list`", EXIT_BAD_CONFIG)
    return cfg, row


@conflicts_app.command("show")
def show_command(
    conflict_id: Annotated[int, typer.Argument(help="Conflict id.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One conflict with its details (hashes, ids and times; never personal values)."""
    _, row = _load(config, conflict_id)
    data = row.to_json()
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    console = make_console(markup=False)
    for key in ("id", "pipeline", "record_key", "field", "kind", "status", "created_at"):
        console.print(f"{key}: {data[key]}")
    if row.resolved_at:
        console.print(f"resolved_at: {data['resolved_at']}")
        console.print(f"resolution: {json.dumps(data['resolution'])}")
    for key, value in sorted(row.details.items()):
        console.print(f"  {key}: {json.dumps(value)}")


@conflicts_app.command("resolve")
def resolve_command(
    conflict_id: Annotated[int, typer.Argument(help="Conflict id.")],
    take: Annotated[
        str,
        typer.Option(
            "--take",
            help="b2connect, crm, or a value (manual_rule: the field's value; "
            "ambiguous_match: the CRM id to link).",
        ),
    ],
    config: ConfigOption = None,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Decide a conflict; the decision is audited and acted on at once where possible."""
    cfg, row = _load(config, conflict_id)
    with open_runner(cfg) as runner:
        try:
            outcome = resolve(runner, row, take, actor=_actor(actor))
        except ResolveError as exc:
            fail(str(exc), EXIT_BAD_CONFIG if exc.usage else EXIT_FAILED)
        except ConnectorError as exc:
            fail(f"{type(exc).__name__}: {exc.message}")
    run = outcome.run
    data = {
        "id": row.id,
        "take": outcome.decision.take,
        "note": outcome.note,
        "run": None if run is None else {"status": run.status.value, "error": run.error},
    }
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        typer.echo(f"conflict {row.id} resolved ({outcome.decision.take}): {outcome.note}")
        if run is not None:
            typer.echo(
                f"pushed again: {run.status.value}" + (f" ({run.error})" if run.error else "")
            )
    if run is not None and run.status.value == "failed":
        raise typer.Exit(EXIT_FAILED)


@pipelines_app.command("resume")
def resume_command(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    config: ConfigOption = None,
    allow_deletes: Annotated[
        bool,
        typer.Option(
            "--allow-deletes",
            help="The deletions (for a blank breaker: the blankings) were intended: let the "
            "next runs make them (up to the tripped count) until one succeeds.",
        ),
    ] = False,
    actor: ActorOption = None,
) -> None:
    """Reset a tripped delete or blank breaker so the pipeline runs again (audited)."""
    _, cfg = load_or_exit(config)
    pipe = pipeline_or_exit(cfg, name)
    who = _actor(actor)
    with open_runner(cfg) as runner, begin_write(runner.db) as conn:
        trip = tripped(conn, name)
        if trip is None or not reset(
            conn, name, actor=who, now=runner.clock(), allow_deletes=allow_deletes
        ):
            fail(f"pipeline '{name}' is not paused by a breaker", EXIT_BAD_CONFIG)
        if runner.audit_keys is not None:
            event = AuditEvent(
                actor=who,
                tenant_id=runner.tenant_of(pipe),
                action=OPERATOR_COMMAND,
                stream="pipelines",
                record_key=name,
                details={
                    "command": "pipelines resume",
                    "pipeline": name,
                    "allow_deletes": allow_deletes,
                    "deletes": trip.deletes,
                    "direction": trip.direction,
                    "breaker": trip.kind,
                    "field": trip.field,
                },
            )
            record_events(conn, [event], keys=runner.audit_keys, now=runner.clock())
    what = "blankings" if trip.kind == "blank" else "deletions"
    allowed = f"; up to {trip.deletes} {what} allowed" if allow_deletes else ""
    typer.echo(f"pipeline '{name}' resumed{allowed}")
