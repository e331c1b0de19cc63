"""Audit trail: a ``details`` column for non-personal facts and an index on event time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

``details`` holds facts that are not personal data (a config hash, the changed pipelines,
an erasure request id, an operator command); it is covered by the event hash. The index on
``occurred_at`` serves time-range searches across tenants.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``audit_events.details`` and ``ix_audit_events_occurred_at``."""
    op.add_column("audit_events", sa.Column("details", sa.JSON(), nullable=True))
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])


def downgrade() -> None:
    """Drop the index and the column."""
    op.drop_index("ix_audit_events_occurred_at", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("details")
