"""Consent: consent decisions per subject, channel and purpose.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

Subjects carry a keyed hash of the normalised email and the B2Connect customer id, never an
email in clear. ``consent_states`` holds the standing decision, ``consent_system_states``
what each system holds, ``consent_holds`` records a push pipeline left out for want of
consent.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HASH = 128
KEY = 255
PIPELINE = 128


def _utc(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _subject_fk(table: str, *, cascade: bool = True) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["subject_id"],
        ["consent_subjects.id"],
        name=op.f(f"fk_{table}_subject_id_consent_subjects"),
        ondelete="CASCADE" if cascade else "SET NULL",
    )


def upgrade() -> None:
    """Create the consent tables."""
    op.create_table(
        "consent_subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("email_hash", sa.String(length=HASH), nullable=True),
        sa.Column("customer_id", sa.String(length=KEY), nullable=True),
        _utc("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_subjects")),
        sa.UniqueConstraint(
            "tenant_id", "email_hash", name=op.f("uq_consent_subjects_tenant_id_email_hash")
        ),
    )
    op.create_index(
        "ix_consent_subjects_tenant_id_customer_id",
        "consent_subjects",
        ["tenant_id", "customer_id"],
    )
    op.create_table(
        "consent_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _utc("decided_at"),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("legal_basis", sa.String(length=64), nullable=True),
        sa.Column("wording_version", sa.String(length=64), nullable=True),
        _utc("recorded_at"),
        _subject_fk("consent_states"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_states")),
        sa.UniqueConstraint(
            "subject_id",
            "channel",
            "purpose",
            name=op.f("uq_consent_states_subject_id_channel_purpose"),
        ),
    )
    op.create_table(
        "consent_system_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("implicit", sa.Boolean(), nullable=False),
        _utc("observed_at", nullable=True),
        sa.Column("ref", sa.String(length=KEY), nullable=True),
        sa.Column("blocked_reason", sa.Text(), nullable=True),
        _utc("blocked_decision_at", nullable=True),
        _utc("updated_at"),
        _subject_fk("consent_system_states"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_system_states")),
        sa.UniqueConstraint(
            "subject_id",
            "system",
            "channel",
            "purpose",
            name=op.f("uq_consent_system_states_subject_id_system_channel_purpose"),
        ),
    )
    op.create_table(
        "consent_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(length=PIPELINE), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("record_key", sa.String(length=KEY), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        _utc("held_at"),
        _subject_fk("consent_holds", cascade=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_holds")),
        sa.UniqueConstraint(
            "pipeline", "record_key", name=op.f("uq_consent_holds_pipeline_record_key")
        ),
    )


def downgrade() -> None:
    """Drop the consent tables (referencing tables first)."""
    for table in ("consent_holds", "consent_system_states", "consent_states"):
        op.drop_table(table)
    op.drop_index("ix_consent_subjects_tenant_id_customer_id", table_name="consent_subjects")
    op.drop_table("consent_subjects")
