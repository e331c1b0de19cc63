"""Tables for consent, erasure and the audit trail: tombstones, erasures, events, subject keys.

None of them holds a personal value in clear: subjects appear as keyed HMACs or opaque
references, and audit payloads are encrypted with a per-subject key that erasure destroys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from store._enums import ErasureStatus
from store._types import StrEnumType, UTCDateTime, column, json_dict, utc_now

HASH = 128
RUN_ID = 36


class ErasureRequest(SQLModel, table=True):
    """A right-to-erasure request, fanned out to every system and tracked to its deadline."""

    __tablename__ = "erasure_requests"
    __table_args__ = (sa.Index("ix_erasure_requests_status_due_at", "status", "due_at"),)

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    tenant_id: str = column(sa.String(64))
    #: opaque reference to the subject (never an email or a name)
    subject_ref: str = column(sa.String(255))
    requested_at: datetime = column(UTCDateTime(), default_factory=utc_now)
    due_at: datetime = column(UTCDateTime())
    status: ErasureStatus = column(StrEnumType(ErasureStatus), default=ErasureStatus.PENDING)
    #: system name ("b2connect", "hubspot", "local", ...) -> that system's status and detail
    system_status: dict[str, Any] = column(json_dict(), default_factory=dict)
    completed_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    attempts: int = column(sa.Integer(), default=0)
    last_error: str | None = column(sa.Text(), nullable=True, default=None)


class Tombstone(SQLModel, table=True):
    """Keyed HMAC of an erased subject's normalised identifier; blocks any later re-create."""

    __tablename__ = "tombstones"
    __table_args__ = (sa.UniqueConstraint("subject_hash"),)

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    subject_hash: str = column(sa.String(HASH))
    #: which identifier was hashed: "email", "customer_id", ...
    kind: str = column(sa.String(32))
    erasure_request_id: int | None = column(
        sa.Integer(),
        sa.ForeignKey("erasure_requests.id", ondelete="SET NULL"),
        nullable=True,
        default=None,
    )
    created_at: datetime = column(UTCDateTime(), default_factory=utc_now)


class AuditEvent(SQLModel, table=True):
    """One append-only audit event, chained to the previous one of its tenant by hash."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "seq"),
        sa.Index("ix_audit_events_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        sa.Index("ix_audit_events_subject_hash", "subject_hash"),
        sa.Index("ix_audit_events_run_id", "run_id"),
        sa.Index("ix_audit_events_occurred_at", "occurred_at"),
    )

    id: int | None = column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, default=None
    )
    tenant_id: str = column(sa.String(64))
    #: position in the tenant's chain, from 1
    seq: int = column(sa.BigInteger())
    occurred_at: datetime = column(UTCDateTime(), default_factory=utc_now)
    #: pipeline, user or system that acted
    actor: str = column(sa.String(255))
    source_system: str = column(sa.String(32))
    target_system: str = column(sa.String(32))
    stream: str = column(sa.String(64))
    record_key_hash: str = column(sa.String(HASH))
    subject_hash: str | None = column(sa.String(HASH), nullable=True, default=None)
    action: str = column(sa.String(32))
    #: names of the fields written (never their values)
    changed_fields: list[str] = column(sa.JSON(), default_factory=list)
    outcome: str = column(sa.String(32))
    #: None for events outside a pipeline run (e.g. an erasure started from the CLI)
    run_id: str | None = column(sa.String(RUN_ID), nullable=True, default=None)
    batch_id: str | None = column(sa.String(64), nullable=True, default=None)
    #: non-personal facts (config hash, changed pipelines, erasure request id, command)
    details: dict[str, Any] | None = column(sa.JSON(), nullable=True, default=None)
    #: personal values, encrypted with the subject's key (unreadable once it is shredded)
    payload_ciphertext: bytes | None = column(sa.LargeBinary(), nullable=True, default=None)
    key_id: str | None = column(sa.String(HASH), nullable=True, default=None)
    prev_hash: str = column(sa.String(HASH))
    hash: str = column(sa.String(HASH))


class AuditSubjectAlias(SQLModel, table=True):
    """Another identifier of an audit subject (a keyed hash of the normalised email of the
    customer id the events are keyed by), so a search by email finds the person's events."""

    __tablename__ = "audit_subject_aliases"

    alias_hash: str = column(sa.String(HASH), primary_key=True)
    subject_hash: str = column(sa.String(HASH), primary_key=True)
    created_at: datetime = column(UTCDateTime(), default_factory=utc_now)


class SubjectKey(SQLModel, table=True):
    """A subject's wrapped data key; shredding sets ``wrapped_key`` to None."""

    __tablename__ = "subject_keys"

    subject_hash: str = column(sa.String(HASH), primary_key=True)
    wrapped_key: bytes | None = column(sa.LargeBinary(), nullable=True, default=None)
    created_at: datetime = column(UTCDateTime(), default_factory=utc_now)
    shredded_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    legal_hold: bool = column(sa.Boolean(), default=False)
