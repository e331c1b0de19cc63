"""Insights: email engagement read back from the CRM, per customer and day.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

Counts only (opens, clicks, delivered), derived from the CRM's lifetime counters; the last
counters read per customer and CRM connection are kept to compute the next delta.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _counts() -> list[sa.Column[object]]:
    return [sa.Column(n, sa.Integer(), nullable=False) for n in ("opens", "clicks", "delivered")]


def upgrade() -> None:
    """Create ``insights_engagement`` and ``insights_engagement_totals``."""
    op.create_table(
        "insights_engagement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_key", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_engagement")),
        sa.UniqueConstraint(
            "tenant_id",
            "customer_key",
            "day",
            name=op.f("uq_insights_engagement_tenant_id_customer_key_day"),
        ),
    )
    op.create_index(
        "ix_insights_engagement_tenant_id_day", "insights_engagement", ["tenant_id", "day"]
    )
    op.create_table(
        "insights_engagement_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_key", sa.String(255), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        *_counts(),
        sa.Column("last_open_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_click_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_engagement_totals")),
        sa.UniqueConstraint(
            "tenant_id",
            "customer_key",
            "source",
            name=op.f("uq_insights_engagement_totals_tenant_id_customer_key_source"),
        ),
    )


def downgrade() -> None:
    """Drop the engagement tables."""
    op.drop_table("insights_engagement_totals")
    op.drop_index("ix_insights_engagement_tenant_id_day", table_name="insights_engagement")
    op.drop_table("insights_engagement")
