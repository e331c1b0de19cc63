"""Insights: the order's marketing source (CAC attribution) and support/NPS touchpoints.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

``insights_orders.source`` keeps B2Connect's order ``source`` (first-order attribution for
CAC); ``insights_support`` keeps tickets/cases and NPS answers read back from the CRMs (dates,
open/closed, score: no subjects or comments).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``insights_orders.source``; create ``insights_support``."""
    with op.batch_alter_table("insights_orders") as batch:
        batch.add_column(sa.Column("source", sa.String(100), nullable=True))
    op.create_table(
        "insights_support",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_key", sa.String(255), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("item_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_support")),
        sa.UniqueConstraint(
            "tenant_id",
            "customer_key",
            "source",
            "kind",
            "item_id",
            name=op.f("uq_insights_support_tenant_id_customer_key_source_kind_item_id"),
        ),
    )


def downgrade() -> None:
    """Drop ``insights_support`` and ``insights_orders.source``."""
    op.drop_table("insights_support")
    with op.batch_alter_table("insights_orders") as batch:
        batch.drop_column("source")
