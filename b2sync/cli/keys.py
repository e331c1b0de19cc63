"""``b2sync keys``: rotate the master key without losing tombstones or the audit chain.

``keys rotate`` reads the previous master key from ``B2SYNC_OLD_MASTER_KEY`` (or the file
named by ``B2SYNC_OLD_MASTER_KEY_FILE``) and the new one from ``B2SYNC_MASTER_KEY`` /
``B2SYNC_MASTER_KEY_FILE``, and in one transaction re-seals the store's key root under the
new key (see :mod:`audit.keystore`), records an ``operator.command`` event per tenant and
anchors every chain head. Exit codes: 0 done, 2 a key is missing, malformed or wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import sqlalchemy as sa
import typer

from audit import anchor_path, events_table, state_url
from audit.errors import AuditError
from audit.events import OPERATOR_COMMAND, AuditEvent, record_events
from audit.keys import load_master_key
from audit.keystore import load_keyring, load_old_master_key, rotate_master_key
from audit.verify import anchor
from store import begin_write, make_engine

__all__ = ["keys_app"]

EXIT_BAD_CONFIG = 2

keys_app = typer.Typer(
    name="keys",
    help="The master key: rotate it (tombstones, data keys and the audit chain keep working).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"b2sync keys: {message}", err=True)
    raise typer.Exit(EXIT_BAD_CONFIG)


@keys_app.command("rotate")
def rotate_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config file (default: $B2SYNC_CONFIG).")
    ] = None,
    state: Annotated[
        str | None, typer.Option("--state-url", help="State store URL (overrides the config).")
    ] = None,
) -> None:
    """Re-seal the store's keys from B2SYNC_OLD_MASTER_KEY to B2SYNC_MASTER_KEY."""
    try:
        old, new = load_old_master_key(), load_master_key()
        url, path = state_url(config, state), anchor_path(config, None)
    except AuditError as exc:
        _fail(str(exc))
    engine = make_engine(url)
    try:
        with begin_write(engine) as conn:
            rotate_master_key(conn, old, new)
            keys = load_keyring(conn)
            tenants = sorted(set(conn.execute(sa.select(events_table.c.tenant_id).distinct())))
            events = [
                AuditEvent(
                    actor="operator",
                    tenant_id=str(tenant),
                    action=OPERATOR_COMMAND,
                    stream="keys",
                    details={"command": "keys rotate"},
                )
                for (tenant,) in tenants
            ]
            record_events(conn, events, keys=keys)
            heads = anchor(conn, keys=keys, anchor_path=path)
    except AuditError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(
        "the store's keys are now sealed by the new master key; tombstones, link hashes, "
        f"data keys and the audit chain are unchanged ({len(heads)} chain heads anchored)"
    )
