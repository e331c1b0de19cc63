"""Tables the sync engine reads and writes on every run: cursors, links, runs, failures, locks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from store._enums import ConflictStatus, DeadLetterStatus, RunStatus, Side
from store._types import StrEnumType, UTCDateTime, column, json_dict, utc_now

PIPELINE = 128
STREAM = 64
KEY = 255
HASH = 128
RUN_ID = 36


class Cursor(SQLModel, table=True):
    """Where a pipeline's reader stopped on one side of one stream (a JSON value)."""

    __tablename__ = "cursors"
    __table_args__ = (sa.UniqueConstraint("pipeline", "stream", "side"),)

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    pipeline: str = column(sa.String(PIPELINE))
    stream: str = column(sa.String(STREAM))
    side: Side = column(StrEnumType(Side))
    value: Any = column(sa.JSON())
    updated_at: datetime = column(UTCDateTime(), default_factory=utc_now, onupdate=utc_now)


class Link(SQLModel, table=True):
    """A B2Connect record ↔ CRM record pairing, with HMAC hashes of the last synced values."""

    __tablename__ = "links"
    __table_args__ = (
        sa.UniqueConstraint("pipeline", "b2connect_key"),
        sa.Index("ix_links_pipeline_crm_id", "pipeline", "crm_id"),
    )

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    pipeline: str = column(sa.String(PIPELINE))
    tenant_id: str = column(sa.String(64))
    b2connect_key: str = column(sa.String(KEY))
    crm_object: str = column(sa.String(64))
    crm_id: str | None = column(sa.String(64), nullable=True, default=None)
    #: field name -> HMAC hex of the value last written or read for that field
    field_hashes: dict[str, str] = column(json_dict(), default_factory=dict)
    record_hash: str = column(sa.String(HASH))
    last_synced_at: datetime = column(UTCDateTime())
    created_at: datetime = column(UTCDateTime(), default_factory=utc_now)
    #: when b2sync carried a deletion across this link (None: live); kept so a restore re-links
    deleted_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    #: the side the record was deleted on: "b2connect" or "crm"
    deleted_in: str | None = column(sa.String(32), nullable=True, default=None)


class Run(SQLModel, table=True):
    """One pipeline run: when, how it ended, and what it did."""

    __tablename__ = "runs"
    __table_args__ = (sa.Index("ix_runs_pipeline_started_at", "pipeline", "started_at"),)

    id: str = column(sa.String(RUN_ID), primary_key=True)
    pipeline: str = column(sa.String(PIPELINE))
    started_at: datetime = column(UTCDateTime(), default_factory=utc_now)
    finished_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    status: RunStatus = column(StrEnumType(RunStatus), default=RunStatus.RUNNING)
    records_read: int = column(sa.Integer(), default=0)
    records_written: int = column(sa.Integer(), default=0)
    records_skipped: int = column(sa.Integer(), default=0)
    records_failed: int = column(sa.Integer(), default=0)
    api_calls: int = column(sa.Integer(), default=0)
    error: str | None = column(sa.Text(), nullable=True, default=None)
    #: what started the run: "schedule", "webhook", "manual", "replay", ...
    trigger: str = column(sa.String(32))


class DeadLetter(SQLModel, table=True):
    """A record the target rejected, kept for retry with backoff or replay by hand.

    ``payload`` is the mapped record and may hold personal data: store it, never log it.
    """

    __tablename__ = "dead_letters"
    __table_args__ = (
        sa.Index("ix_dead_letters_status_next_attempt_at", "status", "next_attempt_at"),
        sa.Index("ix_dead_letters_pipeline_record_key", "pipeline", "record_key"),
    )

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    pipeline: str = column(sa.String(PIPELINE))
    run_id: str = column(sa.String(RUN_ID), sa.ForeignKey("runs.id"))
    stream: str = column(sa.String(STREAM))
    record_key: str = column(sa.String(KEY))
    payload: dict[str, Any] = column(sa.JSON())
    error_code: str = column(sa.String(128))
    error_message: str = column(sa.Text())
    error_field: str | None = column(sa.String(KEY), nullable=True, default=None)
    attempts: int = column(sa.Integer(), default=0)
    next_attempt_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    status: DeadLetterStatus = column(
        StrEnumType(DeadLetterStatus), default=DeadLetterStatus.PENDING
    )
    created_at: datetime = column(UTCDateTime(), default_factory=utc_now)
    updated_at: datetime = column(UTCDateTime(), default_factory=utc_now, onupdate=utc_now)


class Conflict(SQLModel, table=True):
    """A decision parked for a person (ambiguous match, ``manual`` rule, ...)."""

    __tablename__ = "conflicts"
    __table_args__ = (
        sa.Index("ix_conflicts_pipeline_status", "pipeline", "status"),
        sa.Index("ix_conflicts_pipeline_record_key", "pipeline", "record_key"),
    )

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    pipeline: str = column(sa.String(PIPELINE))
    record_key: str = column(sa.String(KEY))
    #: the field in dispute; None when the whole record is (e.g. an ambiguous match)
    field: str | None = column(sa.String(KEY), nullable=True, default=None)
    #: "ambiguous_match", "manual_rule", ...
    kind: str = column(sa.String(32))
    details: dict[str, Any] = column(json_dict(), default_factory=dict)
    status: ConflictStatus = column(StrEnumType(ConflictStatus), default=ConflictStatus.OPEN)
    created_at: datetime = column(UTCDateTime(), default_factory=utc_now)
    resolved_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    resolution: str | None = column(sa.Text(), nullable=True, default=None)


class Lock(SQLModel, table=True):
    """A named lease (one run at a time per pipeline across processes and replicas)."""

    __tablename__ = "locks"

    name: str = column(sa.String(255), primary_key=True)
    owner: str = column(sa.String(255))
    acquired_at: datetime = column(UTCDateTime(), default_factory=utc_now)
    expires_at: datetime = column(UTCDateTime())


class PendingLink(SQLModel, table=True):
    """A reference to complete in a later run (an order synced before its customer's CRM id
    was known: lookup field or association still to set). Never dropped."""

    __tablename__ = "pending_links"
    __table_args__ = (sa.UniqueConstraint("pipeline", "record_key", "what"),)

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    pipeline: str = column(sa.String(PIPELINE))
    record_key: str = column(sa.String(KEY))
    target_pipeline: str = column(sa.String(PIPELINE))
    target_key: str = column(sa.String(KEY))
    #: what to complete: a lookup field or an association label
    what: str = column(sa.String(KEY))
    created_at: datetime = column(UTCDateTime(), default_factory=utc_now)


class Setting(SQLModel, table=True):
    """A small named value the daemon keeps between runs (e.g. ``paused_until:<pipeline>``)."""

    __tablename__ = "settings"

    name: str = column(sa.String(255), primary_key=True)
    value: str = column(sa.Text())
