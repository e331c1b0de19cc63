"""Walk every tenant chain and name the first event that was altered, removed or reordered.

:func:`anchor` records each chain head (in the log, in ``settings`` and, with
``audit.anchor_path``, as a signed line in an append-only file outside the database) so that
a truncated tail or a rewritten database is detected too. A retention purge records the
first sequence number it kept (``audit_purged:<tenant>``); events before it are checked one
by one, the chain from there on. Hashes are HMACs under the chain key; events before the
``audit_keyed:<tenant>`` marker are legacy SHA-256 (see :mod:`audit.anchors`). A marker or
anchor whose signature is wrong is reported as ``forged`` and ignored.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
import structlog

from audit._chain import GENESIS, HASHED_COLUMNS, chain_head, event_hash, events_table
from audit.anchors import (
    ANCHOR_PREFIX,
    KEYED_PREFIX,
    PURGED_PREFIX,
    FileHeads,
    append_heads,
    by_tenant,
    is_signed,
    mark_keyed,
    put_signed,
    read_heads,
)
from audit.events import is_legacy_head
from audit.keys import KeyRing
from store import utc_now

ALTERED: Final = "altered"
REMOVED: Final = "removed"
REORDERED: Final = "reordered"
TRUNCATED: Final = "truncated"
FORGED: Final = "forged"
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


@dataclass(frozen=True)
class _Marks:
    """A tenant's trusted markers: first keyed event, first kept event, anchored heads."""

    keyed_from: int
    first_kept: int
    heads: list[tuple[str, dict[str, Any]]]


def verify(
    conn: sa.Connection,
    tenant_id: str | None = None,
    *,
    keys: KeyRing,
    anchor_path: Path | None = None,
) -> VerifyReport:
    """Check the chain of ``tenant_id`` (or of every tenant, anchored ones included)."""
    report = VerifyReport()
    settings = {p: by_tenant(conn, p) for p in (ANCHOR_PREFIX, KEYED_PREFIX, PURGED_PREFIX)}
    file_heads = read_heads(anchor_path, keys) if anchor_path is not None else FileHeads()
    for number in file_heads.bad_lines:
        report.problems.append(
            Problem("*", 0, FORGED, f"{anchor_path} line {number} is not signed by the audit key")
        )
    known = _tenants(conn) | settings[ANCHOR_PREFIX].keys() | file_heads.heads.keys()
    tenants = sorted(known) if tenant_id is None else [tenant_id]
    for tenant in tenants:
        marks = _marks(keys, tenant, settings, file_heads, anchor_path, report)
        if tenant not in settings[KEYED_PREFIX]:
            marks = _legacy(conn, keys, tenant, marks)
        count, problem = _verify_tenant(conn, keys, tenant, marks)
        report.checked[tenant] = count
        if problem is not None:
            report.problems.append(problem)
    return report


def _marks(
    keys: KeyRing,
    tenant: str,
    settings: dict[str, dict[str, dict[str, Any]]],
    file_heads: FileHeads,
    anchor_path: Path | None,
    report: VerifyReport,
) -> _Marks:
    """The tenant's markers whose signatures hold; each forged one becomes a problem."""
    trusted: dict[str, dict[str, Any]] = {}
    for prefix, values in settings.items():
        value = values.get(tenant)
        if value is None:
            continue
        if is_signed(keys, prefix + tenant, value):
            trusted[prefix] = value
        else:
            report.problems.append(
                Problem(
                    tenant,
                    int(value.get("seq", 0)),
                    FORGED,
                    f"the marker {prefix}{tenant} in settings is not signed by the audit key "
                    "(forged or altered in the database); it was ignored",
                )
            )
    heads: list[tuple[str, dict[str, Any]]] = []
    if ANCHOR_PREFIX in trusted:
        heads.append((f"the anchor in settings ({ANCHOR_PREFIX}{tenant})", trusted[ANCHOR_PREFIX]))
    if tenant in file_heads.heads:
        head = file_heads.heads[tenant]
        heads.append((f"the anchor file {anchor_path} (line {head['line']})", head))
    return _Marks(
        keyed_from=int(trusted.get(KEYED_PREFIX, {}).get("seq", 1)),
        first_kept=int(trusted.get(PURGED_PREFIX, {}).get("seq", 1)),
        heads=heads,
    )


def _legacy(conn: sa.Connection, keys: KeyRing, tenant: str, marks: _Marks) -> _Marks:
    """A chain an older version wrote and nothing keyed has been appended to yet: legacy.

    Both its first and its last event must carry plain SHA-256; a chain that starts keyed
    is keyed throughout (a rewrite of its tail with SHA-256 is then named where it starts).
    """
    seq, _ = chain_head(conn, tenant)
    first = conn.execute(
        sa.select(sa.func.min(events_table.c.seq)).where(events_table.c.tenant_id == tenant)
    ).scalar()
    if (
        first is not None
        and is_legacy_head(conn, tenant, seq, keys)
        and is_legacy_head(conn, tenant, int(first), keys)
    ):
        return _Marks(keyed_from=seq + 1, first_kept=marks.first_kept, heads=marks.heads)
    return marks


def anchor(
    conn: sa.Connection,
    *,
    keys: KeyRing,
    anchor_path: Path | None = None,
    now: datetime | None = None,
) -> dict[str, tuple[int, str]]:
    """Log, store (signed) and append to ``anchor_path`` every tenant's chain head.

    A chain still wholly written by an older version (plain SHA-256) gets its
    ``audit_keyed:`` marker here, which also signs its old purge marker.

    Returns ``{tenant: (seq, hash)}``.
    """
    when = (now or utc_now()).isoformat()
    heads: dict[str, tuple[int, str]] = {}
    for tenant in sorted(_tenants(conn)):
        seq, head = chain_head(conn, tenant)
        if is_legacy_head(conn, tenant, seq, keys):  # an older version's chain: migrate
            mark_keyed(conn, keys, tenant, seq)
        heads[tenant] = (seq, head)
        put_signed(conn, keys, ANCHOR_PREFIX + tenant, {"seq": seq, "hash": head, "at": when})
        _log.info("audit.anchor", tenant_id=tenant, seq=seq, head_hash=head)
    if anchor_path is not None:
        lines = [{"tenant": t, "seq": s, "hash": h, "at": when} for t, (s, h) in heads.items()]
        append_heads(anchor_path, keys, lines)
    return heads


def _verify_tenant(
    conn: sa.Connection, keys: KeyRing, tenant: str, marks: _Marks
) -> tuple[int, Problem | None]:
    expected, prev = 1, GENESIS
    count = 0
    with closing(_rows(conn, tenant)) as rows:
        for row in rows:
            count += 1
            stored = row._asdict()
            seq = int(stored["seq"])
            key = keys.chain_key if seq >= marks.keyed_from else None
            problem = _check_row(conn, tenant, stored, expected, prev, marks.first_kept, key)
            if problem is None:
                problem = _against_heads(tenant, seq, str(stored["hash"]), marks.heads)
            if problem is not None:
                return count, problem
            expected, prev = seq + 1, str(stored["hash"])
    for where, head in marks.heads:
        if expected - 1 < int(head["seq"]):
            last = expected - 1
            return count, Problem(
                tenant,
                last + 1,
                TRUNCATED,
                f"the chain ends at event {last} but event {head['seq']} was anchored "
                f"at {head.get('at', '?')} in {where}: events {last + 1}..{head['seq']} are gone",
            )
    return count, None


def _against_heads(
    tenant: str, seq: int, value: str, heads: list[tuple[str, dict[str, Any]]]
) -> Problem | None:
    for where, head in heads:
        if seq == int(head["seq"]) and value != head["hash"]:
            return Problem(tenant, seq, ALTERED, f"event {seq} differs from {where}")
    return None


def _check_row(
    conn: sa.Connection,
    tenant: str,
    row: dict[str, Any],
    expected: int,
    prev: str,
    first_kept: int,
    key: bytes | None,
) -> Problem | None:
    seq = int(row["seq"])
    content_ok = event_hash(row, key) == row["hash"]
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
