"""Webhooks: persistent replay receipts and the erasure inbox.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-06

``webhook_receipts`` keeps digests of accepted webhook signatures and signed event ids until
the replay window is over; ``erasure_inbox`` keeps each webhook-borne erasure request (sealed)
from before the webhook is answered until it is filed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``webhook_receipts`` and ``erasure_inbox``."""
    op.create_table(
        "webhook_receipts",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_webhook_receipts")),
    )
    op.create_index("ix_webhook_receipts_expires_at", "webhook_receipts", ["expires_at"])
    op.create_table(
        "erasure_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("external_ref", sa.String(255), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_inbox")),
    )


def downgrade() -> None:
    """Drop the two tables."""
    op.drop_table("erasure_inbox")
    op.drop_index("ix_webhook_receipts_expires_at", table_name="webhook_receipts")
    op.drop_table("webhook_receipts")
