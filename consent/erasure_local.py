"""Purge what b2sync itself keeps about an erased person.

Links (with their field hashes), dead letters (whose payload may hold personal values),
conflicts, pending links, consent-sync rows and per-customer rows of other features (tables
with a ``customer_key``: insights state, order ledger, rule firings) of the person go. Orders' own links stay
(order data is exempt and holds only hashes), but dead letters of their orders go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from consent.erasure_model import SubjectIds, normalise_email
from mapping.config import Config
from store.models import metadata
from sync.hashing import FieldHasher

__all__ = ["find_people", "purge_local"]

_links = metadata.tables["links"]
_dead = metadata.tables["dead_letters"]
_conflicts = metadata.tables["conflicts"]
_pending = metadata.tables["pending_links"]
#: fields of a dead letter's source record that name the person
_PERSON_KEYS = ("id", "customerId", "subjectId")
_EMAIL_KEYS = ("email", "customerEmail")


def person_pipelines(config: Config) -> list[tuple[str, str, str | None]]:
    """(pipeline, connector type, CRM field the email is written to) of customer pipelines."""
    out: list[tuple[str, str, str | None]] = []
    for pipe in config.pipelines:
        if pipe.b2connect.stream != "customers":
            continue
        conn = config.connections.get(pipe.crm.connection)
        email_field = next((f.crm for f in pipe.fields if f.b2connect == "email"), None)
        out.append((pipe.name, conn.type if conn is not None else "crm", email_field))
    return out


def find_people(
    conn: sa.Connection, config: Config, hasher: FieldHasher, ids: SubjectIds
) -> SubjectIds:
    """Identifiers of the same person found in the links (by id, CRM id or email hash)."""
    found = SubjectIds(email=ids.email, customer_id=ids.customer_id, crm_ids=dict(ids.crm_ids))
    pipes = person_pipelines(config)
    for name, crm_type, email_field in pipes:
        rows = list(_matching_links(conn, name, crm_type, email_field, hasher, found))
        for row in rows:
            found.customer_id = found.customer_id or row.b2connect_key
            if row.crm_id:
                found.crm_ids.setdefault(crm_type, str(row.crm_id))
    if found.customer_id and found.customer_id != ids.customer_id:
        for name, crm_type, _ in pipes:  # the id found by email or CRM id: its other links
            row = conn.execute(
                sa.select(_links.c.crm_id).where(
                    _links.c.pipeline == name, _links.c.b2connect_key == found.customer_id
                )
            ).first()
            if row is not None and row.crm_id:
                found.crm_ids.setdefault(crm_type, str(row.crm_id))
    return found


def _matching_links(
    conn: sa.Connection,
    pipeline: str,
    crm_type: str,
    email_field: str | None,
    hasher: FieldHasher,
    ids: SubjectIds,
) -> Iterable[Any]:
    where = []
    if ids.customer_id:
        where.append(_links.c.b2connect_key == ids.customer_id)
    if ids.crm_ids.get(crm_type):
        where.append(_links.c.crm_id == ids.crm_ids[crm_type])
    cols = (_links.c.b2connect_key, _links.c.crm_id, _links.c.field_hashes)
    if where:
        yield from conn.execute(
            sa.select(*cols).where(_links.c.pipeline == pipeline, sa.or_(*where))
        )
    if ids.email and email_field:
        digest = hasher.value(email_field, normalise_email(ids.email))
        for row in conn.execute(sa.select(*cols).where(_links.c.pipeline == pipeline)):
            if (row.field_hashes or {}).get(email_field) == digest:
                yield row


def purge_local(
    conn: sa.Connection, config: Config, ids: SubjectIds, *, hasher: FieldHasher | None = None
) -> Counter[str]:
    """Delete the person's local state; counts per table (never the values).

    With ``hasher``, consent rows of a person known only by email (a CRM-only contact) are
    found by the keyed hash of the email too.
    """
    counts: Counter[str] = Counter()
    person_pipes = [name for name, _, _ in person_pipelines(config)]
    keys = [k for k in (ids.customer_id,) if k]
    if keys:
        counts["links"] += conn.execute(
            _links.delete().where(
                _links.c.pipeline.in_(person_pipes), _links.c.b2connect_key.in_(keys)
            )
        ).rowcount
        counts["conflicts"] += conn.execute(
            _conflicts.delete().where(_conflicts.c.record_key.in_(keys))
        ).rowcount
        counts["pending_links"] += conn.execute(
            _pending.delete().where(
                sa.or_(_pending.c.record_key.in_(keys), _pending.c.target_key.in_(keys))
            )
        ).rowcount
    for system, crm_id in ids.crm_ids.items():
        del system
        counts["links"] += conn.execute(
            _links.delete().where(_links.c.pipeline.in_(person_pipes), _links.c.crm_id == crm_id)
        ).rowcount
    dead_ids = [
        row.id
        for row in conn.execute(sa.select(_dead.c.id, _dead.c.record_key, _dead.c.payload))
        if _about(row.record_key, row.payload, ids)
    ]
    if dead_ids:
        counts["dead_letters"] += conn.execute(
            _dead.delete().where(_dead.c.id.in_(dead_ids))
        ).rowcount
    counts.update(_purge_consent(conn, ids, hasher))
    counts.update(_purge_keyed(conn, ids))
    return +counts


def _purge_keyed(conn: sa.Connection, ids: SubjectIds) -> Counter[str]:
    """Rows other features keep per customer (``customer_key``: insights, rule firings)."""
    counts: Counter[str] = Counter()
    if not ids.customer_id:
        return counts
    for name, table in sorted(metadata.tables.items()):
        if "customer_key" in table.c:
            counts[name] += conn.execute(
                table.delete().where(table.c.customer_key == ids.customer_id)
            ).rowcount
    return counts


def _about(record_key: str, payload: Any, ids: SubjectIds) -> bool:
    if ids.customer_id and record_key == ids.customer_id:
        return True
    source = payload.get("source") if isinstance(payload, Mapping) else None
    if not isinstance(source, Mapping):
        return False
    if ids.customer_id and any(str(source.get(k) or "") == ids.customer_id for k in _PERSON_KEYS):
        return True
    if ids.email:
        return any(normalise_email(str(source.get(k) or "")) == ids.email for k in _EMAIL_KEYS)
    return False


def _purge_consent(
    conn: sa.Connection, ids: SubjectIds, hasher: FieldHasher | None
) -> Counter[str]:
    """Consent-sync rows of the person, when the consent tables exist."""
    counts: Counter[str] = Counter()
    subjects = metadata.tables.get("consent_subjects")
    holds = metadata.tables.get("consent_holds")
    if holds is not None and ids.customer_id:
        counts["consent_holds"] += conn.execute(
            holds.delete().where(holds.c.record_key == ids.customer_id)
        ).rowcount
    if subjects is None:
        return counts
    match = []
    if ids.customer_id:
        match.append(subjects.c.customer_id == ids.customer_id)
    if ids.email and hasher is not None:
        from consent.consent_store import email_hash  # consent tables are optional here

        match.append(subjects.c.email_hash == email_hash(hasher, ids.email))
    if not match:
        return counts
    found = [row.id for row in conn.execute(sa.select(subjects.c.id).where(sa.or_(*match)))]
    if not found:
        return counts
    for child in ("consent_states", "consent_system_states"):
        table = metadata.tables.get(child)
        if table is not None:
            counts[child] += conn.execute(
                table.delete().where(table.c.subject_id.in_(found))
            ).rowcount
    if holds is not None:
        conn.execute(holds.update().where(holds.c.subject_id.in_(found)).values(subject_id=None))
    counts["consent_subjects"] += conn.execute(
        subjects.delete().where(subjects.c.id.in_(found))
    ).rowcount
    return counts
