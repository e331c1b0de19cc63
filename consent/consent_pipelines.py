"""What the consent sync does for push pipelines that require consent.

- ``on_withdraw: archive``: a person whose required consent became withdrawn has their CRM
  record archived (HubSpot) or deleted (Salesforce recycle bin) and its link forgotten;
  ``unsubscribe_only`` and ``keep`` leave the record (the unsubscribe itself travels with
  the consent sync either way).
- Held records (left out by :mod:`consent.gate`) of people who now grant the consent are
  read again from B2Connect and pushed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog

from audit import AuditEvent, KeyRing, record_events
from audit.events import CRM_DELETE
from connectors.base import SupportsFetch
from connectors.errors import ConnectorError
from connectors.records import Record
from consent.model import ConsentStatus
from mapping.config import Pipeline
from store import begin_write
from store.models import metadata
from sync import state

__all__ = ["archive_withdrawn", "release_held", "requiring"]

log = structlog.get_logger(__name__)

_holds = metadata.tables["consent_holds"]
_states = metadata.tables["consent_states"]
_subjects = metadata.tables["consent_subjects"]


def requiring(pipelines: Iterable[Pipeline]) -> list[Pipeline]:
    """Enabled push pipelines of customers that require consent."""
    return [
        p
        for p in pipelines
        if p.enabled and p.require_consent is not None and p.direction.value != "pull"
    ]


def archive_withdrawn(
    pipelines: Sequence[Pipeline],
    withdrawn: Iterable[tuple[int, str, str]],
    customers: Mapping[int, str],
    *,
    connector: Callable[[str], Any],
    db: sa.Engine,
    tenant_id: str,
    audit_keys: KeyRing | None,
    now: datetime,
    crm_types: Mapping[str, str] | None = None,
) -> int:
    """Archive the CRM records of people who withdrew, per ``on_withdraw: archive``."""
    gone = list(withdrawn)
    done = 0
    for pipe in pipelines:
        req = pipe.require_consent
        if req is None or pipe.on_withdraw != "archive" or pipe.b2connect.stream != "customers":
            continue
        keys = sorted(
            {
                customers[s]
                for s, c, p in gone
                if (c, p) == (req.channel, req.purpose) and s in customers
            }
        )
        if not keys:
            continue
        with db.connect() as conn:
            linked = state.link_ids(conn, pipe.name, keys)
        targets = [k for k in keys if linked.get(k)]
        if not targets:
            continue
        kwargs = {"id_property": pipe.crm.id_property} if pipe.crm.id_property else {}
        try:
            results = connector(pipe.crm.connection).delete(pipe.crm.object, targets, **kwargs)
        except ConnectorError as exc:
            log.warning("consent.archive_failed", pipeline=pipe.name, code=exc.code)
            continue
        removed = [r.key for r in results if r.ok]
        system = (crm_types or {}).get(pipe.crm.connection, pipe.crm.connection)
        events = [_archived(pipe, key, linked[key], tenant_id, system) for key in removed]
        with begin_write(db) as conn:
            state.delete_links(conn, pipe.name, removed)
            if events and audit_keys is not None:
                record_events(conn, events, keys=audit_keys, now=now)
        done += len(removed)
        log.info("consent.archived", pipeline=pipe.name, archived=len(removed))
    return done


def _archived(pipe: Pipeline, key: str, crm_id: str, tenant_id: str, system: str) -> AuditEvent:
    return AuditEvent(
        actor="consent-sync",
        tenant_id=tenant_id,
        action=CRM_DELETE,
        source_system="b2sync",
        target_system=system,
        stream=pipe.crm.object,
        record_key=key,
        subject=key,
        details={"crm_id": crm_id, "reason": "consent withdrawn", "pipeline": pipe.name},
    )


def held_ready(conn: sa.Connection, pipe: Pipeline) -> list[str]:
    """Held record keys of ``pipe`` whose person now grants the required consent."""
    req = pipe.require_consent
    if req is None:
        return []
    granted = (
        (_states.c.channel == req.channel)
        & (_states.c.purpose == req.purpose)
        & (_states.c.status == ConsentStatus.GRANTED.value)
    )
    by_subject = (
        sa.select(_holds.c.record_key)
        .join(_states, _states.c.subject_id == _holds.c.subject_id)
        .where(_holds.c.pipeline == pipe.name, granted)
    )
    keys = set(conn.execute(by_subject).scalars())
    if pipe.b2connect.stream == "customers":
        by_customer = (
            sa.select(_holds.c.record_key)
            .join(
                _subjects,
                (_subjects.c.tenant_id == _holds.c.tenant_id)
                & (_subjects.c.customer_id == _holds.c.record_key),
            )
            .join(_states, _states.c.subject_id == _subjects.c.id)
            .where(_holds.c.pipeline == pipe.name, granted)
        )
        keys.update(conn.execute(by_customer).scalars())
    return sorted(keys)


def release_held(
    pipelines: Sequence[Pipeline],
    *,
    source: Callable[[Pipeline], Any],
    push: Callable[[Pipeline, list[Record]], None],
    db: sa.Engine,
) -> int:
    """Push held people who now grant the consent; returns how many records were re-read."""
    released = 0
    for pipe in pipelines:
        with db.connect() as conn:
            keys = held_ready(conn, pipe)
        if not keys:
            continue
        reader = source(pipe)
        if not isinstance(reader, SupportsFetch):
            log.warning("consent.release_unsupported", pipeline=pipe.name)
            continue
        try:
            found = reader.fetch(pipe.b2connect.stream, keys)
        except ConnectorError as exc:
            log.warning("consent.release_failed", pipeline=pipe.name, code=exc.code)
            continue
        records = [found[k] for k in keys if k in found]
        gone = [k for k in keys if k not in found]
        if gone:
            with begin_write(db) as conn:
                conn.execute(
                    _holds.delete().where(
                        _holds.c.pipeline == pipe.name, _holds.c.record_key.in_(gone)
                    )
                )
        if records:
            push(pipe, records)
            released += len(records)
            log.info("consent.released", pipeline=pipe.name, records=len(records))
    return released
