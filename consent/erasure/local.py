"""Purge what b2sync itself keeps about an erased person.

Links (with their field hashes), dead letters (whose payload may hold personal values),
conflicts, pending links, consent-sync rows and per-customer rows of other features (tables
with a ``customer_key``: insights state, order ledger, rule firings) of the person go. Orders' own links stay
(order data is exempt and holds only hashes), but dead letters of their orders go.

A row is the person's when it carries their B2Connect id, one of their CRM ids (pull-side
dead letters and conflicts are keyed by the CRM id) or their email anywhere in its body; a
run error quoting the email is masked. With ``tenant`` only that tenant's pipelines and rows
are touched: an erasure for one shop never deletes another's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from consent.erasure.model import SubjectIds, normalise_email
from mapping.config import B2ConnectConnection, Config
from store.models import metadata
from sync.hashing import FieldHasher
from sync.settings import SecretError, resolve

__all__ = ["find_people", "purge_local", "tenant_pipelines", "tenants_of"]

_links = metadata.tables["links"]
_dead = metadata.tables["dead_letters"]
_conflicts = metadata.tables["conflicts"]
_pending = metadata.tables["pending_links"]
_runs = metadata.tables["runs"]
#: fields of a dead letter's source record that name the person
_PERSON_KEYS = ("id", "customerId", "subjectId")


def tenants_of(config: Config) -> dict[str, str]:
    """Tenant id (lower-case) -> B2Connect connection name."""
    out: dict[str, str] = {}
    for name, conn in config.connections.items():
        if isinstance(conn, B2ConnectConnection):
            try:
                out[resolve(conn.tenant_id).strip().lower()] = name
            except SecretError:
                continue
    return out


def tenant_pipelines(config: Config, tenant: str | None) -> list[str]:
    """Names of the pipelines reading ``tenant`` (every pipeline when ``tenant`` is None)."""
    if tenant is None:
        return [pipe.name for pipe in config.pipelines]
    connection = tenants_of(config).get(tenant)
    return [pipe.name for pipe in config.pipelines if pipe.b2connect.connection == connection]


def person_pipelines(
    config: Config, tenant: str | None = None
) -> list[tuple[str, str, str | None]]:
    """(pipeline, connector type, CRM field the email is written to) of customer pipelines."""
    out: list[tuple[str, str, str | None]] = []
    mine = set(tenant_pipelines(config, tenant))
    for pipe in config.pipelines:
        if pipe.b2connect.stream != "customers" or pipe.name not in mine:
            continue
        conn = config.connections.get(pipe.crm.connection)
        email_field = next((f.crm for f in pipe.fields if f.b2connect == "email"), None)
        out.append((pipe.name, conn.type if conn is not None else "crm", email_field))
    return out


def find_people(
    conn: sa.Connection,
    config: Config,
    hasher: FieldHasher,
    ids: SubjectIds,
    tenant: str | None = None,
) -> SubjectIds:
    """Identifiers of the same person found in the links (by id, CRM id or email hash)."""
    found = SubjectIds(email=ids.email, customer_id=ids.customer_id, crm_ids=dict(ids.crm_ids))
    pipes = person_pipelines(config, tenant)
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
    conn: sa.Connection,
    config: Config,
    ids: SubjectIds,
    *,
    hasher: FieldHasher | None = None,
    tenant: str | None = None,
) -> Counter[str]:
    """Delete the person's local state; counts per table (never the values).

    With ``hasher``, consent rows of a person known only by email (a CRM-only contact) are
    found by the keyed hash of the email too. With ``tenant``, only that tenant's rows go.
    """
    counts: Counter[str] = Counter()
    pipes = tenant_pipelines(config, tenant)
    person_pipes = [name for name, _, _ in person_pipelines(config, tenant)]
    keys = [k for k in (ids.customer_id, *ids.crm_ids.values()) if k]
    if ids.customer_id:
        counts["links"] += conn.execute(
            _links.delete().where(
                _links.c.pipeline.in_(person_pipes), _links.c.b2connect_key == ids.customer_id
            )
        ).rowcount
    if keys:
        counts["pending_links"] += conn.execute(
            _pending.delete().where(
                _pending.c.pipeline.in_(pipes),
                sa.or_(_pending.c.record_key.in_(keys), _pending.c.target_key.in_(keys)),
            )
        ).rowcount
    for crm_id in ids.crm_ids.values():
        counts["links"] += conn.execute(
            _links.delete().where(_links.c.pipeline.in_(person_pipes), _links.c.crm_id == crm_id)
        ).rowcount
    counts.update(_purge_bodies(conn, _dead, "payload", pipes, ids))
    counts.update(_purge_bodies(conn, _conflicts, "details", pipes, ids))
    counts.update(_mask_run_errors(conn, pipes, ids))
    counts.update(_purge_consent(conn, ids, hasher, tenant))
    counts.update(_purge_keyed(conn, ids, tenant))
    return +counts


def _purge_bodies(
    conn: sa.Connection, table: sa.Table, body: str, pipes: list[str], ids: SubjectIds
) -> Counter[str]:
    """Rows of ``table`` (in ``pipes``) keyed by one of the person's ids or quoting them."""
    doomed = [
        row.id
        for row in conn.execute(
            sa.select(table.c.id, table.c.record_key, table.c[body]).where(
                table.c.pipeline.in_(pipes)
            )
        )
        if _about(row.record_key, row[2], ids)
    ]
    counts: Counter[str] = Counter()
    for start in range(0, len(doomed), 500):
        chunk = doomed[start : start + 500]
        counts[table.name] += conn.execute(table.delete().where(table.c.id.in_(chunk))).rowcount
    return counts


def _mask_run_errors(conn: sa.Connection, pipes: list[str], ids: SubjectIds) -> Counter[str]:
    """Run errors written before errors were redacted at the source may quote the email."""
    counts: Counter[str] = Counter()
    needles = [v for v in (ids.email, ids.customer_id) if v and "@" in v]
    for needle in needles:
        rows = conn.execute(
            sa.select(_runs.c.id, _runs.c.error).where(
                _runs.c.pipeline.in_(pipes), sa.func.lower(_runs.c.error).contains(needle.lower())
            )
        ).all()
        for row in rows:
            masked = _mask(str(row.error), needle)
            conn.execute(_runs.update().where(_runs.c.id == row.id).values(error=masked))
            counts["runs"] += 1
    return counts


def _mask(text: str, needle: str) -> str:
    lowered, out, at = text.lower(), [], 0
    target = needle.lower()
    while (found := lowered.find(target, at)) >= 0:
        out.append(text[at:found] + "[redacted]")
        at = found + len(target)
    return "".join(out) + text[at:]


def _purge_keyed(conn: sa.Connection, ids: SubjectIds, tenant: str | None) -> Counter[str]:
    """Rows other features keep per customer (``customer_key``: insights, rule firings)."""
    counts: Counter[str] = Counter()
    if not ids.customer_id:
        return counts
    for name, table in sorted(metadata.tables.items()):
        if "customer_key" in table.c:
            where = [table.c.customer_key == ids.customer_id]
            if tenant is not None and "tenant_id" in table.c:
                where.append(sa.func.lower(table.c.tenant_id) == tenant)
            counts[name] += conn.execute(table.delete().where(*where)).rowcount
    return counts


def _about(record_key: str, body: Any, ids: SubjectIds) -> bool:
    """True when a row is keyed by one of the person's ids or its body names them."""
    if record_key and record_key in {ids.customer_id, *ids.crm_ids.values()}:
        return True
    source = body.get("source") if isinstance(body, Mapping) else None
    if (
        isinstance(source, Mapping)
        and ids.customer_id
        and any(str(source.get(k) or "") == ids.customer_id for k in _PERSON_KEYS)
    ):
        return True
    return bool(ids.email) and _quotes(body, normalise_email(str(ids.email)))


def _quotes(value: Any, email: str) -> bool:
    """Whether ``email`` appears in any text of a JSON body (any field name, any depth)."""
    if isinstance(value, str):
        return email in value.lower()
    if isinstance(value, Mapping):
        return any(_quotes(v, email) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_quotes(v, email) for v in value)
    return False


def _purge_consent(
    conn: sa.Connection, ids: SubjectIds, hasher: FieldHasher | None, tenant: str | None
) -> Counter[str]:
    """Consent-sync rows of the person, when the consent tables exist."""
    counts: Counter[str] = Counter()
    subjects = metadata.tables.get("consent_subjects")
    holds = metadata.tables.get("consent_holds")
    if holds is not None and ids.customer_id:
        where = [holds.c.record_key == ids.customer_id]
        if tenant is not None:
            where.append(sa.func.lower(holds.c.tenant_id) == tenant)
        counts["consent_holds"] += conn.execute(holds.delete().where(*where)).rowcount
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
    query = sa.select(subjects.c.id).where(sa.or_(*match))
    if tenant is not None:
        query = query.where(sa.func.lower(subjects.c.tenant_id) == tenant)
    found = [row.id for row in conn.execute(query)]
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
