"""Erasure and retention: erasure steps per system, sealed subjects, tombstone hits.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HASH = 128


def _utc(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create ``erasure_steps``, ``erasure_subjects`` and ``tombstone_hits``."""
    op.create_table(
        "erasure_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _utc("next_attempt_at", nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        _utc("updated_at"),
        _utc("completed_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.id"],
            name=op.f("fk_erasure_steps_request_id_erasure_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_steps")),
        sa.UniqueConstraint(
            "request_id", "system", name=op.f("uq_erasure_steps_request_id_system")
        ),
    )
    op.create_index(
        "ix_erasure_steps_status_next_attempt_at",
        "erasure_steps",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "erasure_subjects",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("hashes", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("external_ref", sa.String(length=255), nullable=True),
        _utc("created_at"),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_requests.id"],
            name=op.f("fk_erasure_subjects_request_id_erasure_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_erasure_subjects")),
    )
    op.create_table(
        "tombstone_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tombstone_id", sa.Integer(), nullable=True),
        sa.Column("erasure_request_id", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("pipeline", sa.String(length=128), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("record_key_hash", sa.String(length=HASH), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        _utc("blocked_at"),
        sa.ForeignKeyConstraint(
            ["tombstone_id"],
            ["tombstones.id"],
            name=op.f("fk_tombstone_hits_tombstone_id_tombstones"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tombstone_hits")),
    )
    op.create_index("ix_tombstone_hits_blocked_at", "tombstone_hits", ["blocked_at"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index("ix_tombstone_hits_blocked_at", table_name="tombstone_hits")
    op.drop_table("tombstone_hits")
    op.drop_table("erasure_subjects")
    op.drop_index("ix_erasure_steps_status_next_attempt_at", table_name="erasure_steps")
    op.drop_table("erasure_steps")
