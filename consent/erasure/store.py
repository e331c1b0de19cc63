"""Rows of an erasure request: create, read, move a step on, roll the request's status up.

Every change of a step is one transaction with its ``erasure.step`` audit event (when the
audit trail is on), so the trail never claims a step that was rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from audit import AuditEvent, KeyRing, record_events
from audit.events import ERASURE_STEP
from consent.erasure.model import ENDED, Origin, StepStatus, SubjectIds, deadline
from store.models import ErasureRequest, ErasureStatus, ErasureStep, ErasureSubject
from sync.hashing import FieldHasher

__all__ = [
    "StepRow",
    "load_subject",
    "refresh_request",
    "request_row",
    "requests_table",
    "seal_key",
    "step_event",
    "steps_of",
    "steps_table",
    "subjects_table",
    "update_step",
    "write_events",
]

requests_table: sa.Table = ErasureRequest.__table__  # type: ignore[attr-defined]
steps_table: sa.Table = ErasureStep.__table__  # type: ignore[attr-defined]
subjects_table: sa.Table = ErasureSubject.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StepRow:
    """One step as read from the store."""

    id: int
    request_id: int
    system: str
    kind: str
    position: int
    status: StepStatus
    attempts: int
    next_attempt_at: datetime | None
    detail: str | None


def seal_key(hasher: FieldHasher) -> bytes:
    """The key sealing open requests' identifiers (derived from the field-hash key)."""
    return bytes.fromhex(hasher.value("erasure.seal", "v1"))


def steps_of(conn: sa.Connection, request_id: int) -> list[StepRow]:
    """A request's steps in execution order."""
    rows = conn.execute(
        sa.select(steps_table)
        .where(steps_table.c.request_id == request_id)
        .order_by(steps_table.c.position, steps_table.c.id)
    )
    return [_step(row) for row in rows]


def _step(row: Any) -> StepRow:
    return StepRow(
        id=row.id,
        request_id=row.request_id,
        system=row.system,
        kind=row.kind,
        position=row.position,
        status=StepStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        detail=row.detail,
    )


def load_subject(
    conn: sa.Connection, hasher: FieldHasher, request_id: int
) -> tuple[SubjectIds, str, str | None] | None:
    """(identifiers, origin, external ref) of an open request; None once it is over."""
    row = conn.execute(
        sa.select(subjects_table).where(subjects_table.c.request_id == request_id)
    ).first()
    if row is None or row.sealed is None:
        return None
    ids = SubjectIds.unseal(seal_key(hasher), request_id, row.sealed)
    return ids, row.origin, row.external_ref


def step_event(
    *,
    tenant_id: str,
    request_id: int,
    system: str,
    kind: str,
    status: str,
    detail: str | None,
    subject: str | None,
    actor: str = "erasure",
    attempt: int | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """The ``erasure.step`` event of one step's change (facts only in ``details``)."""
    details: dict[str, Any] = {"erasure_request": request_id, "step": system, "status": status}
    if detail:
        details["detail"] = detail
    if attempt is not None:
        details["attempt"] = attempt
    return AuditEvent(
        actor=actor,
        tenant_id=tenant_id,
        action=ERASURE_STEP,
        outcome=status,
        source_system="b2sync",
        target_system=kind,
        stream="erasures",
        record_key=f"erasure:{request_id}",
        subject=subject,
        details=details,
        occurred_at=occurred_at,
    )


def update_step(
    conn: sa.Connection,
    step: StepRow,
    *,
    status: StepStatus,
    detail: str | None,
    now: datetime,
    next_attempt_at: datetime | None = None,
    attempted: bool = True,
) -> None:
    """Record a step's new state (and count the attempt)."""
    conn.execute(
        steps_table.update()
        .where(steps_table.c.id == step.id)
        .values(
            status=status.value,
            detail=detail,
            attempts=step.attempts + (1 if attempted else 0),
            next_attempt_at=next_attempt_at,
            updated_at=now,
            completed_at=now if status in (StepStatus.DONE, StepStatus.SKIPPED) else None,
        )
    )


def refresh_request(conn: sa.Connection, request_id: int, now: datetime) -> ErasureStatus:
    """Roll the steps up into the request: status, per-system map, attempts, last error.

    Completed: every step done or skipped (the sealed identifiers are dropped then).
    Failed: a step failed with no retry scheduled. In progress otherwise.
    """
    steps = steps_of(conn, request_id)
    system_status = {s.system: _state(s) for s in steps}
    if steps and all(s.status in (StepStatus.DONE, StepStatus.SKIPPED) for s in steps):
        status = ErasureStatus.COMPLETED
    elif any(s.status is StepStatus.FAILED and s.next_attempt_at is None for s in steps):
        status = ErasureStatus.FAILED
    elif any(s.attempts or s.status in ENDED for s in steps):
        status = ErasureStatus.IN_PROGRESS
    else:
        status = ErasureStatus.PENDING
    errors = [f"{s.system}: {s.detail}" for s in steps if s.status is StepStatus.FAILED]
    values: dict[str, Any] = {
        "status": status,
        "system_status": system_status,
        "attempts": sum(s.attempts for s in steps),
        "last_error": "; ".join(errors) or None,
    }
    if status is ErasureStatus.COMPLETED:
        values["completed_at"] = now
        conn.execute(  # the identifiers go; the keyed hashes and the requester's ref stay
            subjects_table.update()
            .where(subjects_table.c.request_id == request_id)
            .values(sealed=None)
        )
    conn.execute(requests_table.update().where(requests_table.c.id == request_id).values(**values))
    return status


def _state(step: StepRow) -> dict[str, Any]:
    state: dict[str, Any] = {"status": step.status.value, "attempts": step.attempts}
    if step.detail:
        state["detail"] = step.detail
    if step.next_attempt_at is not None and step.status not in (StepStatus.DONE,):
        state["next_attempt_at"] = step.next_attempt_at.isoformat()
    return state


def write_events(
    conn: sa.Connection, keys: KeyRing | None, events: Sequence[AuditEvent], now: datetime
) -> None:
    """Append events when the trail is on."""
    if keys is not None and events:
        record_events(conn, events, keys=keys, now=now)


def request_row(conn: sa.Connection, request_id: int) -> Mapping[str, Any] | None:
    """One request as a mapping."""
    row = conn.execute(sa.select(requests_table).where(requests_table.c.id == request_id)).first()
    return None if row is None else dict(row._mapping)


def insert_request(
    conn: sa.Connection,
    *,
    tenant: str,
    subject_ref: str,
    asked: datetime,
    ids: SubjectIds,
    seal: bytes,
    hashes: Sequence[str],
    origin: Origin,
    external_ref: str | None,
    now: datetime,
) -> int:
    """A new pending request (deadline from ``asked``) and its sealed subject row; its id."""
    inserted = conn.execute(
        requests_table.insert().values(
            tenant_id=tenant,
            subject_ref=subject_ref,
            requested_at=asked,
            due_at=deadline(asked),
            status=ErasureStatus.PENDING,
            system_status={},
            attempts=0,
            last_error=None,
            completed_at=None,
        )
    ).inserted_primary_key
    assert inserted is not None
    rid = int(inserted[0])
    conn.execute(
        subjects_table.insert().values(
            request_id=rid,
            sealed=ids.seal(seal, rid),
            hashes=list(hashes),
            origin=origin.value,
            external_ref=external_ref,
            created_at=now,
        )
    )
    return rid
