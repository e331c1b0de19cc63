"""Natural keys end with ``b2sync_tenant`` instead of starting with it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Revision 0013 made every natural key per tenant by putting ``b2sync_tenant`` first. The
engine's lookups name the natural key, not the tenant (PostgreSQL's row-level security adds
the tenant; a SQLite file holds one), and an index is only searched by its leading columns:
on SQLite every lookup by key (a link, a deferred link, an insights customer) scanned its
table, so a backfill's store work grew with the square of the shop. The same columns in the
other order keep the same uniqueness and are searched by the natural key.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMN = "b2sync_tenant"


def _rekey(*, tenant_last: bool) -> None:
    """Every per-tenant key revision 0013 made (``uq_<table>_tenant_key`` and the natural
    primary keys holding the tenant), read from the database, with the tenant moved."""

    def order(columns: Sequence[str]) -> list[str]:
        key = [c for c in columns if c != COLUMN]
        return [*key, COLUMN] if tenant_last else [COLUMN, *key]

    inspector = sa.inspect(op.get_bind())
    for table in sorted(inspector.get_table_names()):
        unique = f"uq_{table}_tenant_key"
        uniques = [u for u in inspector.get_unique_constraints(table) if u["name"] == unique]
        primary = list(inspector.get_pk_constraint(table)["constrained_columns"])
        natural = COLUMN in primary and len(primary) > 1
        if not (uniques or natural):
            continue
        with op.batch_alter_table(table) as batch:
            for found in uniques:
                batch.drop_constraint(unique, type_="unique")
                batch.create_unique_constraint(unique, order(found["column_names"]))
            if natural:
                batch.drop_constraint(f"pk_{table}", type_="primary")
                batch.create_primary_key(f"pk_{table}", order(primary))


def upgrade() -> None:
    """Every per-tenant key: the natural key first, ``b2sync_tenant`` last."""
    _rekey(tenant_last=True)


def downgrade() -> None:
    """Back to ``b2sync_tenant`` first."""
    _rekey(tenant_last=False)
