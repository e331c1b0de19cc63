"""Erasure status for people: each request with its steps, due date and lateness, and what
each system really found (found and erased / not found / failed / pending)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from audit import KeyRing
from consent.erasure.model import NOT_FOUND, StepStatus
from consent.erasure.store import requests_table, step_event, steps_of, write_events
from store.models import ErasureStatus

__all__ = ["KNOWN_NOWHERE", "erasure_status", "finding", "known_nowhere", "record_known_nowhere"]

#: what the trail and the CLI say when no system knew the person
KNOWN_NOWHERE: Final = (
    "known nowhere: no system held this person; the request stays on file with tombstones "
    "(a later record of this person is not synced) as the accountability record GDPR Art. 5(2) "
    "and 12 ask for, and HubSpot blocklisted the address"
)
#: steps whose finding says whether the person was known (the audit step shreds b2sync's own
#: key of the request's events, which always exists)
_LOOKED_UP = frozenset({"local", "hubspot", "salesforce", "b2connect"})


def finding(kind: str, status: str, detail: str | None) -> str:
    """What one system's step found: ``found and erased``, ``not found``, ``failed``,
    ``pending``, ``skipped`` or (the request registered with a system that cannot say
    whether it knew the person) ``registered``."""
    text = detail or ""
    if kind not in _LOOKED_UP:
        return status
    if status == StepStatus.FAILED.value:
        return "failed"
    if status in (StepStatus.PENDING.value, StepStatus.RETRYING.value):
        return "pending"
    if status == StepStatus.SKIPPED.value:
        return "skipped"
    if text.startswith(NOT_FOUND):
        return "not found"
    if kind == "b2connect" and "registered" in text:
        return "registered"
    return "found and erased"


def known_nowhere(steps: Iterable[Mapping[str, Any]]) -> bool:
    """Every system that looked the person up found nothing (none failed or is pending)."""
    looked = [s for s in steps if s["kind"] in _LOOKED_UP]
    return bool(looked) and all(s["finding"] in ("not found", "skipped") for s in looked)


def record_known_nowhere(
    conn: sa.Connection,
    keys: KeyRing | None,
    row: Mapping[str, Any],
    subject: str | None,
    now: datetime,
) -> None:
    """The ``erasure.step`` event saying the person was known nowhere (and the request kept)."""
    event = step_event(
        tenant_id=row["tenant_id"],
        request_id=int(row["id"]),
        system="report",
        kind="b2sync",
        status="known_nowhere",
        detail=KNOWN_NOWHERE,
        subject=subject,
        occurred_at=now,
    )
    write_events(conn, keys, [event], now)


def erasure_status(
    conn: sa.Connection,
    now: datetime,
    *,
    overdue: bool = False,
    request_id: int | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Requests newest first, each with its steps; ``overdue``: open ones past their due date."""
    query = sa.select(requests_table).order_by(requests_table.c.id.desc()).limit(limit)
    if request_id is not None:
        query = query.where(requests_table.c.id == request_id)
    if overdue:
        query = query.where(
            requests_table.c.status != ErasureStatus.COMPLETED.value,
            requests_table.c.due_at < now,
        )
    out = []
    for row in conn.execute(query):
        status = ErasureStatus(row.status)
        late = status is not ErasureStatus.COMPLETED and row.due_at < now
        steps = [
            {
                "system": s.system,
                "kind": s.kind,
                "status": s.status.value,
                "attempts": s.attempts,
                "next_attempt_at": s.next_attempt_at.isoformat() if s.next_attempt_at else None,
                "detail": s.detail,
                "finding": finding(s.kind, s.status.value, s.detail),
            }
            for s in steps_of(conn, row.id)
        ]
        out.append(
            {
                "id": row.id,
                "tenant_id": row.tenant_id,
                "subject_ref": row.subject_ref,
                "status": status.value,
                "requested_at": row.requested_at.isoformat(),
                "due_at": row.due_at.isoformat(),
                "completed_at": row.completed_at.isoformat() if row.completed_at else None,
                "overdue": late,
                "days_left": (row.due_at - now).days if not late else 0,
                "last_error": row.last_error,
                "steps": steps,
            }
        )
    return out
