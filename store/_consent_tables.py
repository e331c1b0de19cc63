"""Consent tables: subjects (no clear personal data), current decisions, per-system states.

A subject is a keyed hash of the normalised email plus the B2Connect customer id when known;
the store never holds an email in clear. ``consent_states`` holds the decision that stands
per channel and purpose with its provenance; ``consent_system_states`` what each system was
last seen holding (or was last told), so a change in a system is recognised as a new
decision and our own writes coming back are not; ``consent_holds`` are records a push
pipeline left out for want of consent, pushed once the consent is granted.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import SQLModel

from store._types import UTCDateTime, column, utc_now

HASH = 128
KEY = 255
PIPELINE = 128


def _subject_fk() -> sa.ForeignKey:
    return sa.ForeignKey("consent_subjects.id", ondelete="CASCADE")


class ConsentSubject(SQLModel, table=True):
    """A person as consent knows them: keyed email hash and/or B2Connect customer id."""

    __tablename__ = "consent_subjects"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "email_hash"),
        sa.Index("ix_consent_subjects_tenant_id_customer_id", "tenant_id", "customer_id"),
    )

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    tenant_id: str = column(sa.String(64))
    email_hash: str | None = column(sa.String(HASH), nullable=True, default=None)
    customer_id: str | None = column(sa.String(KEY), nullable=True, default=None)
    created_at: datetime = column(UTCDateTime(), default_factory=utc_now)


class ConsentState(SQLModel, table=True):
    """The decision that stands for one subject, channel and purpose, with its provenance."""

    __tablename__ = "consent_states"
    __table_args__ = (sa.UniqueConstraint("subject_id", "channel", "purpose"),)

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    subject_id: int = column(sa.Integer(), _subject_fk())
    channel: str = column(sa.String(16))
    purpose: str = column(sa.String(64))
    status: str = column(sa.String(16))
    decided_at: datetime = column(UTCDateTime())
    source_system: str = column(sa.String(32))
    legal_basis: str | None = column(sa.String(64), nullable=True, default=None)
    wording_version: str | None = column(sa.String(64), nullable=True, default=None)
    recorded_at: datetime = column(UTCDateTime(), default_factory=utc_now)


class ConsentSystemState(SQLModel, table=True):
    """What one system holds for a subject, channel and purpose (seen or written by us)."""

    __tablename__ = "consent_system_states"
    __table_args__ = (sa.UniqueConstraint("subject_id", "system", "channel", "purpose"),)

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    subject_id: int = column(sa.Integer(), _subject_fk())
    system: str = column(sa.String(32))
    channel: str = column(sa.String(16))
    purpose: str = column(sa.String(64))
    status: str = column(sa.String(16))
    #: the system holds no decision, only a default (a Salesforce checkbox never ticked)
    implicit: bool = column(sa.Boolean(), default=False)
    #: when the system says the status was set
    observed_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    #: the system's record id (HubSpot contact id, Salesforce Contact id)
    ref: str | None = column(sa.String(KEY), nullable=True, default=None)
    #: why the standing decision could not be applied here (e.g. HubSpot v3 resubscribe)
    blocked_reason: str | None = column(sa.Text(), nullable=True, default=None)
    #: decided_at of the decision that could not be applied (retried when a newer one comes)
    blocked_decision_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    updated_at: datetime = column(UTCDateTime(), default_factory=utc_now)


class ConsentHold(SQLModel, table=True):
    """A record a push pipeline left out because the required consent was missing."""

    __tablename__ = "consent_holds"
    __table_args__ = (sa.UniqueConstraint("pipeline", "record_key"),)

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    pipeline: str = column(sa.String(PIPELINE))
    tenant_id: str = column(sa.String(64))
    record_key: str = column(sa.String(KEY))
    subject_id: int | None = column(
        sa.Integer(),
        sa.ForeignKey("consent_subjects.id", ondelete="SET NULL"),
        nullable=True,
        default=None,
    )
    held_at: datetime = column(UTCDateTime(), default_factory=utc_now)
