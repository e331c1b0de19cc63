"""The consent gate: a record hook that keeps people without the required consent out of a push.

A push pipeline with ``require_consent: {channel, purpose}`` sends only people whose standing
decision for that channel and purpose is ``granted`` (see ``b2sync consent sync``). Everyone
else is dropped from the flush and *held* in ``consent_holds``; the consent sync pushes held
people once they grant the consent. With ``on_withdraw: keep`` people already linked in the
CRM stay synced after a withdrawal; with ``unsubscribe_only`` and ``archive`` they are no
longer pushed. Records read from a CRM (pull) pass untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
import structlog

from connectors.records import Record
from consent import consent_store as cstore
from consent.model import ConsentStatus
from mapping.config import Config, ConsentRequirement, Pipeline
from store import begin_write
from store.models import metadata
from sync import state
from sync.hooks import HookContext, RecordHook

__all__ = ["IDENTITY_FIELDS", "consent_gate", "gate_factory", "identity_of"]

log = structlog.get_logger(__name__)

_holds = metadata.tables["consent_holds"]

#: B2Connect stream -> (field with the customer id, field with the email)
IDENTITY_FIELDS: dict[str, tuple[str | None, str]] = {
    "customers": ("id", "email"),
    "orders": ("customerId", "customerEmail"),
    "consents": ("subjectId", "email"),
    "companies": (None, "email"),
}


def identity_of(record: Record) -> tuple[str | None, str | None]:
    """(customer id, email) of the person a B2Connect record is about."""
    id_field, email_field = IDENTITY_FIELDS.get(record.stream, (None, "email"))
    customer = record.key if id_field == "id" else record.fields.get(id_field or "")
    email = record.fields.get(email_field)
    return (
        str(customer) if customer not in (None, "") else None,
        str(email).strip() if isinstance(email, str) and email.strip() else None,
    )


def _standing(
    conn: sa.Connection,
    context: HookContext,
    requirement: ConsentRequirement,
    records: list[Record],
) -> dict[str, tuple[bool, int | None]]:
    """Record key -> (consent granted, subject id) for every live record, in a few queries."""
    people = {r.key: identity_of(r) for r in records if not r.deleted}
    hashes = {
        key: cstore.email_hash(context.hasher, email) for key, (_, email) in people.items() if email
    }
    customers = {key: customer for key, (customer, _) in people.items() if customer}
    by_hash, by_customer = cstore.subjects_by(
        conn, context.tenant_id, hashes=hashes.values(), customer_ids=customers.values()
    )
    subjects = {
        key: by_hash.get(hashes.get(key, "")) or by_customer.get(customers.get(key, ""))
        for key in people
    }
    decisions = cstore.load_decisions(conn, {s for s in subjects.values() if s is not None})
    wanted = (requirement.channel, requirement.purpose)
    out: dict[str, tuple[bool, int | None]] = {}
    for key, subject in subjects.items():
        standing = decisions.get(subject, {}).get(wanted) if subject is not None else None
        out[key] = (standing is not None and standing.status is ConsentStatus.GRANTED, subject)
    return out


def consent_gate(
    requirement: ConsentRequirement, context: HookContext, records: list[Record]
) -> list[Record]:
    """Drop (and hold) the records of people without the required consent."""
    if context.origin != "b2connect":
        return records
    with context.db.connect() as conn:
        standing = _standing(conn, context, requirement, records)
    if context.pipeline.on_withdraw == "keep":  # people already in the CRM stay synced
        refused = [r.key for r in records if not r.deleted and not standing[r.key][0]]
        with context.db.connect() as conn:
            linked = state.link_ids(conn, context.pipeline.name, refused)
        standing.update({key: (True, standing[key][1]) for key, crm_id in linked.items() if crm_id})
    kept = [r for r in records if r.deleted or standing[r.key][0]]
    held = {r.key: standing[r.key][1] for r in records if not r.deleted and not standing[r.key][0]}
    if not context.dry_run:
        _remember(context, held, [r.key for r in kept if not r.deleted])
    if held:
        log.info(
            "consent.gate_dropped",
            pipeline=context.pipeline.name,
            dropped=len(held),
            kept=len(kept),
            channel=requirement.channel,
            purpose=requirement.purpose,
        )
    return kept


def _remember(context: HookContext, held: Mapping[str, int | None], passed: list[str]) -> None:
    name = context.pipeline.name
    with begin_write(context.db) as conn:
        for chunk in _chunks(list(held) + passed):
            conn.execute(
                _holds.delete().where(_holds.c.pipeline == name, _holds.c.record_key.in_(chunk))
            )
        if held:
            conn.execute(
                _holds.insert(),
                [_hold_row(context, key, subject, context.now) for key, subject in held.items()],
            )


def _hold_row(context: HookContext, key: str, subject: int | None, now: datetime) -> dict[str, Any]:
    return {
        "pipeline": context.pipeline.name,
        "tenant_id": context.tenant_id,
        "record_key": key,
        "subject_id": subject,
        "held_at": now,
    }


def _chunks(keys: list[str], size: int = 500) -> list[list[str]]:
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def gate_factory(config: Config, pipeline: Pipeline) -> RecordHook | None:
    """The gate of a pipeline that requires consent (None otherwise)."""
    del config
    if pipeline.require_consent is None or pipeline.direction.value == "pull":
        return None
    return partial(consent_gate, pipeline.require_consent)
