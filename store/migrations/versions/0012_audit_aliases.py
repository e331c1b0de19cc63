"""Audit trail: ``audit_subject_aliases``, the keyed hash of a person's email per subject.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Events are keyed by the B2Connect customer id; this table maps the keyed hash of each
normalised email the person was written with to that subject hash, so ``audit search
--subject EMAIL`` finds them. It holds keyed hashes only, never an email.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``audit_subject_aliases``."""
    op.create_table(
        "audit_subject_aliases",
        sa.Column("alias_hash", sa.String(128), nullable=False),
        sa.Column("subject_hash", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alias_hash", "subject_hash", name=op.f("pk_audit_subject_aliases")),
    )


def downgrade() -> None:
    """Drop ``audit_subject_aliases``."""
    op.drop_table("audit_subject_aliases")
