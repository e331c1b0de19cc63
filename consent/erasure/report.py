"""Erasure status for people: each request with its steps, due date and lateness."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consent.erasure.store import requests_table, steps_of
from store.models import ErasureStatus

__all__ = ["erasure_status"]


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
