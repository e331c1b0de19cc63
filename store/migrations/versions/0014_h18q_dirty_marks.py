"""Dirty marks: ``insights_customers.dirty_mark``, raised each time a customer is marked dirty.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

The insights refresh pass may run beside an orders pipeline (``b2sync sync`` starts it once
the customers pipelines are done; the daemon runs it on its own schedule). It reads a page's
marks before their orders and clears the dirty flag only where the mark is unchanged, so a
customer an orders run marked again meanwhile stays dirty for the next pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``insights_customers.dirty_mark`` (0 for the customers there already)."""
    op.add_column(
        "insights_customers",
        sa.Column("dirty_mark", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    """Drop ``insights_customers.dirty_mark``."""
    with op.batch_alter_table("insights_customers") as batch:
        batch.drop_column("dirty_mark")
