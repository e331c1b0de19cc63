"""``b2sync audit``: verify, search, export, shred, hold, purge, anchor, and ``ui``.

Exit codes: 0 success, 1 the chain is broken or the work failed, 2 bad usage or config.
The master key comes from ``B2SYNC_MASTER_KEY`` / ``B2SYNC_MASTER_KEY_FILE``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from audit import TOKEN_ENV, TOKEN_FILE_ENV, TokenError, anchor_path, load_token, state_url
from audit.errors import AuditError, LegalHoldError
from audit.events import OPERATOR_COMMAND, AuditEvent, record_events
from audit.keys import KeyRing, set_legal_hold, shred
from audit.keystore import load_keyring
from audit.query import EventView, Filters, purge_older_than, search, to_csv, to_json
from audit.verify import anchor, verify
from audit.web import parse_time, serve
from store import begin_write, make_engine
from sync.logs import configure_logging

__all__ = ["audit_app", "commands"]

EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2

audit_app = typer.Typer(
    name="audit",
    help="The audit trail: verify the chain, search and export, shred, legal hold.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default: $B2SYNC_CONFIG).")
]
StateUrlOption = Annotated[
    str | None, typer.Option("--state-url", help="State store URL (overrides the config).")
]
SubjectOption = Annotated[str, typer.Option("--subject", help="Email or customer id.")]
TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant of the operator event.")]
AnchorOption = Annotated[
    Path | None,
    typer.Option("--anchor-file", help="Anchor file (default: the config's audit.anchor_path)."),
]


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    typer.echo(f"b2sync audit: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _store(config: Path | None, url: str | None) -> Iterator[sa.Engine]:
    try:
        engine = make_engine(state_url(config, url))
    except AuditError as exc:
        _fail(str(exc), EXIT_BAD_CONFIG)
    try:
        yield engine
    finally:
        engine.dispose()


def _keys(engine: sa.Engine) -> KeyRing:
    """The store's key ring (exit 2 naming the key when it is missing or changed)."""
    try:
        with begin_write(engine) as conn:
            return load_keyring(conn)
    except AuditError as exc:
        _fail(str(exc), EXIT_BAD_CONFIG)


def _anchor_file(config: Path | None, explicit: Path | None) -> Path | None:
    try:
        return anchor_path(config, explicit)
    except AuditError as exc:
        _fail(str(exc), EXIT_BAD_CONFIG)


def _time(text: str | None) -> datetime | None:
    try:
        return parse_time(text or "")
    except ValueError as exc:
        _fail(str(exc), EXIT_BAD_CONFIG)


def _operator(conn: sa.Connection, keys: KeyRing, tenant: str, command: str, subject: str) -> None:
    event = AuditEvent(
        actor="operator",
        tenant_id=tenant,
        action=OPERATOR_COMMAND,
        stream="audit",
        subject=subject,
        details={"command": command},
    )
    record_events(conn, [event], keys=keys)


@audit_app.command("verify")
def verify_command(
    config: ConfigOption = None,
    state: StateUrlOption = None,
    tenant: str | None = None,
    anchor_file: AnchorOption = None,
) -> None:
    """Walk every tenant chain against its keyed hashes, signed markers and the anchor file;
    exit 1 naming the first altered, removed, reordered event or forged marker/anchor."""
    path = _anchor_file(config, anchor_file)
    with _store(config, state) as engine:
        keys = _keys(engine)
        with engine.connect() as conn:
            report = verify(conn, tenant, keys=keys, anchor_path=path)
    for name, count in sorted(report.checked.items()):
        typer.echo(f"{name}: {count} events checked")
    for problem in report.problems:
        typer.echo(f"{problem.tenant_id}: {problem.kind} at event {problem.seq}: {problem.message}")
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)
    typer.echo("ok: every chain is whole")


@audit_app.command("anchor")
def anchor_command(
    config: ConfigOption = None, state: StateUrlOption = None, anchor_file: AnchorOption = None
) -> None:
    """Record (signed, in settings and the anchor file) and log every tenant's chain head."""
    path = _anchor_file(config, anchor_file)
    with _store(config, state) as engine:
        keys = _keys(engine)
        with begin_write(engine) as conn:
            heads = anchor(conn, keys=keys, anchor_path=path)
    for name, (seq, head) in sorted(heads.items()):
        typer.echo(f"{name}: event {seq} {head}")


def _search(
    config: Path | None,
    state: str | None,
    filters: Filters,
) -> list[EventView]:
    with _store(config, state) as engine:
        keys = _keys(engine)
        with engine.connect() as conn:
            return search(conn, keys, filters)


def _print(views: list[EventView], fmt: str) -> None:
    if fmt == "json":
        typer.echo(to_json(views))
    elif fmt == "csv":
        typer.echo(to_csv(views), nl=False)
    else:
        table = Table(
            "When",
            "Tenant#seq",
            "Action",
            "Outcome",
            "Actor",
            "Systems",
            "Record",
            "Person",
            "Fields",
            "Changed by",
        )
        for v in views:
            table.add_row(
                v.occurred_at.isoformat(timespec="seconds"),
                f"{v.tenant_id}#{v.seq}",
                v.action,
                v.outcome,
                v.actor,
                f"{v.source_system}→{v.target_system}",
                f"{v.stream}/{v.record_key}",
                v.subject or "",
                ", ".join(v.changed_fields),
                v.changed_by,
            )
        Console(width=200, markup=False).print(table)  # [erased] stays


@audit_app.command("search")
def search_command(
    config: ConfigOption = None,
    state: StateUrlOption = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="Email or customer id of the person.")
    ] = None,
    customer_id: Annotated[str | None, typer.Option("--customer-id")] = None,
    since: Annotated[str | None, typer.Option(help="ISO date/time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO date/time, exclusive.")] = None,
    action: str | None = None,
    pipeline: str | None = None,
    system: str | None = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Find events by person, time, action, pipeline or system."""
    if fmt not in {"table", "json", "csv"}:
        _fail(f"--format must be table, json or csv, not {fmt!r}", EXIT_BAD_CONFIG)
    if subject and customer_id:
        _fail("give --subject or --customer-id, not both", EXIT_BAD_CONFIG)
    filters = Filters(
        subject=subject or customer_id,
        since=_time(since),
        until=_time(until),
        action=action,
        pipeline=pipeline,
        system=system,
    )
    _print(_search(config, state, filters), fmt)


@audit_app.command("export")
def export_command(
    config: ConfigOption = None,
    state: StateUrlOption = None,
    fmt: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    since: str | None = None,
    until: str | None = None,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Export the whole trail (or a time range) as JSON or CSV."""
    if fmt not in {"json", "csv"}:
        _fail(f"--format must be json or csv, not {fmt!r}", EXIT_BAD_CONFIG)
    views = _search(config, state, Filters(since=_time(since), until=_time(until)))
    text = to_json(views) + "\n" if fmt == "json" else to_csv(views)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"{len(views)} events written to {output}")


@audit_app.command("shred")
def shred_command(
    subject: SubjectOption,
    config: ConfigOption = None,
    state: StateUrlOption = None,
    tenant: TenantOption = "default",
) -> None:
    """Destroy a person's data key: their events stay, their values read [erased]."""
    with _store(config, state) as engine:
        keys = _keys(engine)
        try:
            with begin_write(engine) as conn:
                had_key = shred(conn, keys, subject)
                _operator(conn, keys, tenant, "audit shred", subject)
        except LegalHoldError as exc:
            _fail(str(exc))
    typer.echo("shredded" if had_key else "no key existed; none will be created")


@audit_app.command("hold")
def hold_command(
    subject: SubjectOption,
    config: ConfigOption = None,
    state: StateUrlOption = None,
    off: Annotated[bool, typer.Option("--off", help="Lift the hold.")] = False,
    tenant: TenantOption = "default",
) -> None:
    """Put a person under legal hold (no shredding, no purge), or lift it with --off."""
    with _store(config, state) as engine:
        keys = _keys(engine)
        with begin_write(engine) as conn:
            set_legal_hold(conn, keys, subject, on=not off)
            _operator(conn, keys, tenant, "audit hold --off" if off else "audit hold", subject)
    typer.echo("legal hold lifted" if off else "legal hold set")


@audit_app.command("purge")
def purge_command(
    days: Annotated[int, typer.Option("--days", min=1, help="Keep this many days.")],
    config: ConfigOption = None,
    state: StateUrlOption = None,
) -> None:
    """Delete events older than --days (subjects under legal hold are kept)."""
    with _store(config, state) as engine:
        keys = _keys(engine)
        with begin_write(engine) as conn:
            deleted = purge_older_than(conn, days, keys=keys)
    typer.echo(f"{deleted} events purged")


@audit_app.command("ui")
def ui(
    config: ConfigOption = None,
    state: StateUrlOption = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            envvar=TOKEN_FILE_ENV,
            help=f"File holding the access token, 32+ characters (else ${TOKEN_ENV}).",
        ),
    ] = None,
    host: str = "127.0.0.1",
    port: int = 8766,
) -> None:
    """Serve the read-only compliance page.

    The access token (32+ characters) comes from --token-file / $B2SYNC_UI_TOKEN_FILE or
    $B2SYNC_UI_TOKEN, never from the command line; browsers log in at /login. Logs are
    structured JSON lines (one ``http.request`` per request), redacted like every log line.
    """
    configure_logging()
    try:
        token = load_token(token_file)
    except TokenError as exc:
        _fail(str(exc), EXIT_BAD_CONFIG)
    with _store(config, state) as engine:
        _keys(engine)
    try:
        url = state_url(config, state)
    except AuditError as exc:
        _fail(str(exc), EXIT_BAD_CONFIG)
    serve(url, token, host, port)


#: top-level commands of this module (``ui``)
commands = typer.Typer()


@commands.command("ui", help="Serve the read-only compliance page (audit trail, erasures).")
@functools.wraps(ui)
def _ui(*args: Any, **kwargs: Any) -> None:
    """``b2sync ui``: the same as ``b2sync audit ui``."""
    ui(*args, **kwargs)
