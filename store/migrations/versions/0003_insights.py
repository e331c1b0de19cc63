"""Insights: the order ledger, customer insights state and workflow rule firings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create ``insights_orders``, ``insights_customers`` and ``rule_firings``."""
    op.create_table(
        "insights_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(255), nullable=False),
        sa.Column("customer_key", sa.String(255), nullable=False),
        _when("created_at"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_orders")),
        sa.UniqueConstraint(
            "tenant_id", "order_id", name=op.f("uq_insights_orders_tenant_id_order_id")
        ),
    )
    op.create_index(
        "ix_insights_orders_tenant_id_customer_key",
        "insights_orders",
        ["tenant_id", "customer_key"],
    )
    op.create_table(
        "insights_customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_key", sa.String(255), nullable=False),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.Column("b2b", sa.Boolean(), nullable=False),
        _when("registered_at", nullable=True),
        sa.Column("stage", sa.String(16), nullable=True),
        sa.Column("vip", sa.Boolean(), nullable=True),
        sa.Column("rfm_code", sa.String(3), nullable=True),
        sa.Column("segment", sa.String(32), nullable=True),
        sa.Column("ltv_minor", sa.BigInteger(), nullable=True),
        sa.Column("order_count", sa.Integer(), nullable=True),
        _when("first_order_at", nullable=True),
        _when("last_order_at", nullable=True),
        _when("computed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_customers")),
        sa.UniqueConstraint(
            "tenant_id", "customer_key", name=op.f("uq_insights_customers_tenant_id_customer_key")
        ),
    )
    op.create_index(
        "ix_insights_customers_tenant_id_dirty", "insights_customers", ["tenant_id", "dirty"]
    )
    op.create_table(
        "rule_firings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_key", sa.String(255), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("transition", sa.String(128), nullable=False),
        _when("fired_at"),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_firings")),
        sa.UniqueConstraint(
            "tenant_id",
            "customer_key",
            "rule",
            "transition",
            name=op.f("uq_rule_firings_tenant_id_customer_key_rule_transition"),
        ),
    )


def downgrade() -> None:
    """Drop the insights tables."""
    op.drop_table("rule_firings")
    op.drop_index("ix_insights_customers_tenant_id_dirty", table_name="insights_customers")
    op.drop_table("insights_customers")
    op.drop_index("ix_insights_orders_tenant_id_customer_key", table_name="insights_orders")
    op.drop_table("insights_orders")
