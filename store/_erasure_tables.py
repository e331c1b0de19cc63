"""Tables of erasure processing: one step per system, the sealed subject, blocked attempts.

An erasure request (``erasure_requests``) fans out into ``erasure_steps`` (one per system,
each with its own status, attempts and next attempt time). The identifiers the steps need
(email, ids) are kept sealed (AES-GCM) in ``erasure_subjects`` only while the request is open
(then ``sealed`` is cleared; the keyed hashes and the requester's reference stay);
``tombstone_hits`` records every later attempt to bring the person back, by keyed hash only.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import SQLModel

from store._types import UTCDateTime, column, utc_now

HASH = 128
RUN_ID = 36


class ErasureStep(SQLModel, table=True):
    """One system's part of an erasure request (``hubspot``, ``salesforce``, ``local``...)."""

    __tablename__ = "erasure_steps"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "system"),
        sa.Index("ix_erasure_steps_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    request_id: int = column(sa.Integer(), sa.ForeignKey("erasure_requests.id", ondelete="CASCADE"))
    #: step name: a connection name, ``local`` or ``audit``
    system: str = column(sa.String(64))
    #: connector type of the connection (``hubspot``, ``salesforce``, ``b2connect``) or the step
    kind: str = column(sa.String(32))
    #: order of execution; a step waits for the steps it depends on (see consent.erasure.model)
    position: int = column(sa.Integer(), default=0)
    #: pending, retrying, done, failed, skipped
    status: str = column(sa.String(16), default="pending")
    attempts: int = column(sa.Integer(), default=0)
    next_attempt_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    #: what happened last (never a personal value)
    detail: str | None = column(sa.Text(), nullable=True, default=None)
    updated_at: datetime = column(UTCDateTime(), default_factory=utc_now)
    completed_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)


class ErasureSubject(SQLModel, table=True):
    """The identifiers an open request needs, sealed; cleared when the request is over."""

    __tablename__ = "erasure_subjects"

    request_id: int = column(
        sa.Integer(),
        sa.ForeignKey("erasure_requests.id", ondelete="CASCADE"),
        primary_key=True,
    )
    #: AES-GCM (nonce + ciphertext) of the identifiers' JSON
    sealed: bytes | None = column(sa.LargeBinary(), nullable=True, default=None)
    #: keyed hashes of the identifiers (to merge duplicate requests)
    hashes: list[str] = column(sa.JSON(), default_factory=list)
    #: who asked: operator, b2connect, hubspot, salesforce, retention
    origin: str = column(sa.String(32))
    #: the requester's own reference (B2Connect erasure id...), not personal
    external_ref: str | None = column(sa.String(255), nullable=True, default=None)
    created_at: datetime = column(UTCDateTime(), default_factory=utc_now)


class TombstoneHit(SQLModel, table=True):
    """A blocked attempt to create, update or pull an erased person's old data."""

    __tablename__ = "tombstone_hits"
    __table_args__ = (sa.Index("ix_tombstone_hits_blocked_at", "blocked_at"),)

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    tombstone_id: int | None = column(
        sa.Integer(),
        sa.ForeignKey("tombstones.id", ondelete="SET NULL"),
        nullable=True,
        default=None,
    )
    erasure_request_id: int | None = column(sa.Integer(), nullable=True, default=None)
    tenant_id: str = column(sa.String(64))
    pipeline: str = column(sa.String(128))
    #: b2connect (push read), crm (pull read), webhook...
    origin: str = column(sa.String(16))
    stream: str = column(sa.String(64))
    record_key_hash: str = column(sa.String(HASH))
    #: erased_id (an old id) or stale_email (same email, data older than the erasure)
    reason: str = column(sa.String(32))
    run_id: str | None = column(sa.String(RUN_ID), nullable=True, default=None)
    blocked_at: datetime = column(UTCDateTime(), default_factory=utc_now)
