"""Consent state in the store: subjects by keyed email hash, standing decisions, system states.

Every function takes the caller's open connection, so the caller decides the transaction
(decisions and their audit events commit together).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from consent.model import ConsentKey, ConsentStatus, Decision, normalise_email
from store.models import metadata
from sync.hashing import FieldHasher

__all__ = [
    "SystemState",
    "email_hash",
    "find_subject",
    "forget_subjects",
    "load_decisions",
    "load_system_states",
    "save_decision",
    "save_system_state",
    "subject_for",
    "subject_refs",
    "subjects_by",
]

_subjects = metadata.tables["consent_subjects"]
_states = metadata.tables["consent_states"]
_systems = metadata.tables["consent_system_states"]
_holds = metadata.tables["consent_holds"]
_CHUNK = 500


def email_hash(hasher: FieldHasher, email: str) -> str:
    """The keyed hash a subject's email is stored as (never the email itself)."""
    return hasher.value("consent.subject.email", normalise_email(email))


@dataclass
class SystemState:
    """What one system holds for one subject, channel and purpose."""

    status: str
    implicit: bool = False
    observed_at: datetime | None = None
    ref: str | None = None
    blocked_reason: str | None = None
    blocked_decision_at: datetime | None = None


def find_subject(
    conn: sa.Connection, tenant: str, *, hashed: str | None = None, customer_id: str | None = None
) -> int | None:
    """The subject with this email hash, else with this customer id; None if unknown."""
    if hashed:
        found = conn.execute(
            sa.select(_subjects.c.id).where(
                _subjects.c.tenant_id == tenant, _subjects.c.email_hash == hashed
            )
        ).scalar_one_or_none()
        if found is not None:
            return int(found)
    if customer_id:
        found = conn.execute(
            sa.select(_subjects.c.id)
            .where(_subjects.c.tenant_id == tenant, _subjects.c.customer_id == customer_id)
            .order_by(_subjects.c.id)
            .limit(1)
        ).scalar_one_or_none()
        if found is not None:
            return int(found)
    return None


def subjects_by(
    conn: sa.Connection, tenant: str, *, hashes: Iterable[str], customer_ids: Iterable[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Subject ids by email hash and by customer id, for many people at once."""
    by_hash: dict[str, int] = {}
    by_customer: dict[str, int] = {}
    for column, values, out in (
        (_subjects.c.email_hash, sorted(set(hashes)), by_hash),
        (_subjects.c.customer_id, sorted(set(customer_ids)), by_customer),
    ):
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            query = (
                sa.select(column, _subjects.c.id)
                .where(_subjects.c.tenant_id == tenant, column.in_(chunk))
                .order_by(_subjects.c.id.desc())
            )
            out.update({str(value): int(sid) for value, sid in conn.execute(query)})
    return by_hash, by_customer


def subject_for(
    conn: sa.Connection,
    tenant: str,
    *,
    hashed: str | None,
    customer_id: str | None,
    now: datetime,
) -> int | None:
    """The subject's id, created when new; missing identifiers are filled in on the way."""
    if not hashed and not customer_id:
        return None
    found = find_subject(conn, tenant, hashed=hashed, customer_id=customer_id)
    if found is None:
        result = conn.execute(
            _subjects.insert().values(
                tenant_id=tenant, email_hash=hashed, customer_id=customer_id, created_at=now
            )
        )
        inserted = result.inserted_primary_key
        assert inserted is not None
        return int(inserted[0])
    row = conn.execute(sa.select(_subjects).where(_subjects.c.id == found)).one()
    changes: dict[str, str] = {}
    if customer_id and row.customer_id is None:
        changes["customer_id"] = customer_id
    if hashed and row.email_hash is None:
        taken = find_subject(conn, tenant, hashed=hashed)
        if taken is None:
            changes["email_hash"] = hashed
    if changes:
        conn.execute(_subjects.update().where(_subjects.c.id == found).values(**changes))
    return found


def load_decisions(
    conn: sa.Connection, subject_ids: Iterable[int] | None = None, *, tenant: str | None = None
) -> dict[int, dict[ConsentKey, Decision]]:
    """Standing decisions by subject (those given, or every subject of ``tenant``)."""
    query = sa.select(_states)
    if tenant is not None:
        query = query.join(_subjects, _subjects.c.id == _states.c.subject_id).where(
            _subjects.c.tenant_id == tenant
        )
    out: dict[int, dict[ConsentKey, Decision]] = {}
    for chunk in _chunks(subject_ids):
        rows = conn.execute(
            query if chunk is None else query.where(_states.c.subject_id.in_(chunk))
        )
        for row in rows:
            decision = Decision(
                channel=row.channel,
                purpose=row.purpose,
                status=ConsentStatus(row.status),
                decided_at=row.decided_at,
                source_system=row.source_system,
                legal_basis=row.legal_basis,
                wording_version=row.wording_version,
            )
            out.setdefault(int(row.subject_id), {})[decision.key] = decision
    return out


def load_system_states(
    conn: sa.Connection, subject_ids: Iterable[int] | None = None
) -> dict[tuple[int, str, str, str], SystemState]:
    """``(subject, system, channel, purpose) -> SystemState`` for the subjects given (or all)."""
    out: dict[tuple[int, str, str, str], SystemState] = {}
    for chunk in _chunks(subject_ids):
        query = sa.select(_systems)
        if chunk is not None:
            query = query.where(_systems.c.subject_id.in_(chunk))
        for row in conn.execute(query):
            out[(int(row.subject_id), row.system, row.channel, row.purpose)] = SystemState(
                status=row.status,
                implicit=bool(row.implicit),
                observed_at=row.observed_at,
                ref=row.ref,
                blocked_reason=row.blocked_reason,
                blocked_decision_at=row.blocked_decision_at,
            )
    return out


def save_decision(conn: sa.Connection, subject_id: int, decision: Decision, now: datetime) -> None:
    """Make ``decision`` the standing one for its channel and purpose."""
    values = {
        "status": decision.status.value,
        "decided_at": decision.decided_at,
        "source_system": decision.source_system,
        "legal_basis": decision.legal_basis,
        "wording_version": decision.wording_version,
        "recorded_at": now,
    }
    where = (
        (_states.c.subject_id == subject_id)
        & (_states.c.channel == decision.channel)
        & (_states.c.purpose == decision.purpose)
    )
    if conn.execute(_states.update().where(where).values(**values)).rowcount == 0:
        conn.execute(
            _states.insert().values(
                subject_id=subject_id, channel=decision.channel, purpose=decision.purpose, **values
            )
        )


def save_system_state(
    conn: sa.Connection,
    subject_id: int,
    system: str,
    key: ConsentKey,
    state: SystemState,
    now: datetime,
) -> None:
    """Record what ``system`` holds (or was told) for the subject, channel and purpose."""
    values = {
        "status": state.status,
        "implicit": state.implicit,
        "observed_at": state.observed_at,
        "ref": state.ref,
        "blocked_reason": state.blocked_reason,
        "blocked_decision_at": state.blocked_decision_at,
        "updated_at": now,
    }
    where = (
        (_systems.c.subject_id == subject_id)
        & (_systems.c.system == system)
        & (_systems.c.channel == key[0])
        & (_systems.c.purpose == key[1])
    )
    if conn.execute(_systems.update().where(where).values(**values)).rowcount == 0:
        conn.execute(
            _systems.insert().values(
                subject_id=subject_id, system=system, channel=key[0], purpose=key[1], **values
            )
        )


def subject_refs(conn: sa.Connection, subject_ids: Sequence[int]) -> dict[int, str | None]:
    """The B2Connect customer id of each subject (None when unknown)."""
    out: dict[int, str | None] = {}
    for chunk in _chunks(subject_ids):
        query = sa.select(_subjects.c.id, _subjects.c.customer_id)
        if chunk is not None:
            query = query.where(_subjects.c.id.in_(chunk))
        out.update({int(i): c for i, c in conn.execute(query)})
    return out


def forget_subjects(
    conn: sa.Connection, tenant: str, *, hashed: str | None = None, customer_id: str | None = None
) -> int:
    """Delete a person's consent state (erasure): subjects, decisions, system states, holds."""
    ids: set[int] = set()
    if hashed:
        ids.update(
            conn.execute(
                sa.select(_subjects.c.id).where(
                    _subjects.c.tenant_id == tenant, _subjects.c.email_hash == hashed
                )
            ).scalars()
        )
    if customer_id:
        ids.update(
            conn.execute(
                sa.select(_subjects.c.id).where(
                    _subjects.c.tenant_id == tenant, _subjects.c.customer_id == customer_id
                )
            ).scalars()
        )
        conn.execute(
            _holds.delete().where(_holds.c.tenant_id == tenant, _holds.c.record_key == customer_id)
        )
    if not ids:
        return 0
    chosen = sorted(ids)
    conn.execute(_holds.delete().where(_holds.c.subject_id.in_(chosen)))
    conn.execute(_systems.delete().where(_systems.c.subject_id.in_(chosen)))
    conn.execute(_states.delete().where(_states.c.subject_id.in_(chosen)))
    conn.execute(_subjects.delete().where(_subjects.c.id.in_(chosen)))
    return len(chosen)


def _chunks(ids: Iterable[int] | None) -> Iterable[list[int] | None]:
    if ids is None:
        yield None
        return
    items = sorted(set(ids))
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
