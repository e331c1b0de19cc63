"""Two-way sync: tables for pull cursors, delete breaker and restores.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply the two-way sync changes."""
    _upgrade_deletes()


def downgrade() -> None:
    """Undo the two-way sync changes."""
    _downgrade_deletes()


# ---------------------------------------------------------------- 5b: deletes and restores
# (links keep deleted records recognisable so a restore re-links instead of duplicating)


def _upgrade_deletes() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("deleted_in", sa.String(32), nullable=True))


def _downgrade_deletes() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("deleted_in")
        batch.drop_column("deleted_at")


# ---------------------------------------------------------------- end of 5b block
