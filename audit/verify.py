"""Walk every tenant chain and name the first event that was altered, removed or reordered.

:func:`anchor` records each chain head (in the log and in ``settings``) so that a truncated
tail, which leaves a perfectly valid shorter chain, is detected too. A retention purge
records the first sequence number it kept (``audit_purged:<tenant>``); events before it
are checked one by one, the chain from there on.
"""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
import structlog

from audit._chain import GENESIS, HASHED_COLUMNS, event_hash, events_table
from store import Setting, utc_now

ANCHOR_PREFIX: Final = "audit_anchor:"
PURGED_PREFIX: Final = "audit_purged:"
ALTERED: Final = "altered"
REMOVED: Final = "removed"
REORDERED: Final = "reordered"
TRUNCATED: Final = "truncated"
_settings: sa.Table = Setting.__table__  # type: ignore[attr-defined]
_log = structlog.get_logger("b2sync.audit")


@dataclass(frozen=True)
class Problem:
    """The first break found in one tenant chain."""

    tenant_id: str
    seq: int
    kind: str
    message: str


@dataclass
class VerifyReport:
    """What :func:`verify` found: events checked per tenant and the problems."""

    checked: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every chain is whole."""
        return not self.problems


def verify(conn: sa.Connection, tenant_id: str | None = None) -> VerifyReport:
    """Check the chain of ``tenant_id`` (or of every tenant, anchored ones included)."""
    report = VerifyReport()
    anchors = _settings_by_tenant(conn, ANCHOR_PREFIX)
    purged = _settings_by_tenant(conn, PURGED_PREFIX)
    tenants = sorted(_tenants(conn) | anchors.keys()) if tenant_id is None else [tenant_id]
    for tenant in tenants:
        count, problem = _verify_tenant(
            conn, tenant, anchors.get(tenant), int(purged.get(tenant, {}).get("seq", 1))
        )
        report.checked[tenant] = count
        if problem is not None:
            report.problems.append(problem)
    return report


def anchor(conn: sa.Connection, *, now: datetime | None = None) -> dict[str, tuple[int, str]]:
    """Log and store every tenant's chain head; returns ``{tenant: (seq, hash)}``."""
    when = (now or utc_now()).isoformat()
    heads: dict[str, tuple[int, str]] = {}
    for tenant in sorted(_tenants(conn)):
        row = conn.execute(
            sa.select(events_table.c.seq, events_table.c.hash)
            .where(events_table.c.tenant_id == tenant)
            .order_by(events_table.c.seq.desc())
            .limit(1)
        ).one()
        heads[tenant] = (int(row.seq), str(row.hash))
        _put_setting(conn, ANCHOR_PREFIX + tenant, {"seq": row.seq, "hash": row.hash, "at": when})
        _log.info("audit.anchor", tenant_id=tenant, seq=row.seq, head_hash=row.hash)
    return heads


def _verify_tenant(
    conn: sa.Connection, tenant: str, anchor_head: dict[str, Any] | None, first_kept: int
) -> tuple[int, Problem | None]:
    expected, prev = 1, GENESIS
    count = 0
    with closing(_rows(conn, tenant)) as rows:
        for row in rows:
            count += 1
            stored = row._asdict()
            seq = int(stored["seq"])
            problem = _check_row(conn, tenant, stored, expected, prev, first_kept)
            if problem is not None:
                return count, problem
            if (
                anchor_head
                and seq == int(anchor_head["seq"])
                and stored["hash"] != anchor_head["hash"]
            ):
                return count, Problem(
                    tenant, seq, ALTERED, f"event {seq} differs from the anchored chain head"
                )
            expected, prev = seq + 1, str(stored["hash"])
    if anchor_head and expected - 1 < int(anchor_head["seq"]):
        last = expected - 1
        return count, Problem(
            tenant,
            last + 1,
            TRUNCATED,
            f"the chain ends at event {last} but event {anchor_head['seq']} was anchored "
            f"at {anchor_head.get('at', '?')}: events {last + 1}..{anchor_head['seq']} are gone",
        )
    return count, None


def _check_row(
    conn: sa.Connection,
    tenant: str,
    row: dict[str, Any],
    expected: int,
    prev: str,
    first_kept: int,
) -> Problem | None:
    seq = int(row["seq"])
    content_ok = event_hash(row) == row["hash"]
    if seq < first_kept or (seq == first_kept and expected < first_kept):
        # purged region (or the first event kept after it): each event stands alone
        if not content_ok:
            return Problem(tenant, seq, ALTERED, f"event {seq} does not match its hash")
        return None
    if row["prev_hash"] != prev:
        later = _seq_of_hash(conn, tenant, str(row["prev_hash"]))
        if later is not None and later != expected - 1:
            return Problem(
                tenant,
                seq,
                REORDERED,
                f"event {seq} follows event {later} in the chain, not event {expected - 1}",
            )
    if seq > expected:
        missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
        return Problem(tenant, expected, REMOVED, f"event(s) {missing} removed before event {seq}")
    if not content_ok:
        return Problem(tenant, seq, ALTERED, f"event {seq} does not match its hash")
    if row["prev_hash"] != prev:
        return Problem(
            tenant,
            expected - 1,
            ALTERED,
            f"event {expected - 1} was rewritten: event {seq} links to a different hash",
        )
    return None


def _rows(conn: sa.Connection, tenant: str) -> sa.CursorResult[Any]:
    columns = [events_table.c[name] for name in (*HASHED_COLUMNS, "hash")]
    return conn.execution_options(yield_per=5000).execute(
        sa.select(*columns).where(events_table.c.tenant_id == tenant).order_by(events_table.c.seq)
    )


def _seq_of_hash(conn: sa.Connection, tenant: str, value: str) -> int | None:
    seq = conn.execute(
        sa.select(events_table.c.seq).where(
            events_table.c.tenant_id == tenant, events_table.c.hash == value
        )
    ).scalar()
    return None if seq is None else int(seq)


def _tenants(conn: sa.Connection) -> set[str]:
    return set(conn.execute(sa.select(events_table.c.tenant_id).distinct()).scalars())


def _settings_by_tenant(conn: sa.Connection, prefix: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        sa.select(_settings.c.name, _settings.c.value).where(_settings.c.name.startswith(prefix))
    ).all()
    return {name[len(prefix) :]: json.loads(value) for name, value in rows}


def _put_setting(conn: sa.Connection, name: str, value: dict[str, Any]) -> None:
    text = json.dumps(value, sort_keys=True)
    updated = conn.execute(
        _settings.update().where(_settings.c.name == name).values(value=text)
    ).rowcount
    if not updated:
        conn.execute(_settings.insert().values(name=name, value=text))


def put_setting(conn: sa.Connection, name: str, value: dict[str, Any]) -> None:
    """Insert or replace one JSON value in ``settings`` (used by the retention purge)."""
    _put_setting(conn, name, value)
