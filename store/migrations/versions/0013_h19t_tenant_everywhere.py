"""Tenant isolation: ``b2sync_tenant`` on every table, keys per tenant, row-level security.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

Every table gets ``b2sync_tenant`` (the deployment's tenant id, NOT NULL). Rows that exist
already belong to the tenant upgrading the store (the tenant of the connection: the engine's
``tenant``, ``$B2SYNC_TENANT`` or ``default``): before this revision a store held one tenant.
Natural keys become per tenant (every unique constraint, renamed ``uq_<table>_tenant_key``, and every primary key but a surrogate
``id`` starts with ``b2sync_tenant``). PostgreSQL: each table gets the policy
``tenant_isolation`` (enabled and forced) comparing ``b2sync_tenant`` with the session's
``b2sync.tenant``. SQLite records its one tenant in ``settings`` (``store.tenant``).

Not ``tenant_id``: that column, where it exists, is the B2Connect tenant (a config may read
several shops), a different thing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMN = "b2sync_tenant"
SETTING = "b2sync.tenant"
RECORD = "store.tenant"

#: every table of revision 0012
TABLES: tuple[str, ...] = (
    "audit_events", "audit_subject_aliases", "conflicts", "consent_holds", "consent_states",
    "consent_subjects", "consent_system_states", "cursors", "dead_letters", "erasure_inbox",
    "erasure_requests", "erasure_steps", "erasure_subjects", "insights_customers",
    "insights_engagement", "insights_engagement_totals", "insights_orders", "insights_support",
    "links", "locks", "pending_links", "rule_firings", "runs", "settings", "subject_keys",
    "tombstone_hits", "tombstones", "webhook_receipts",
)  # fmt: skip
#: unique constraints of revision 0012 (table -> columns), each becoming per tenant
UNIQUES: dict[str, tuple[str, ...]] = {
    "audit_events": ("tenant_id", "seq"),
    "consent_subjects": ("tenant_id", "email_hash"),
    "cursors": ("pipeline", "stream", "side"),
    "insights_customers": ("tenant_id", "customer_key"),
    "insights_engagement": ("tenant_id", "customer_key", "day"),
    "insights_engagement_totals": ("tenant_id", "customer_key", "source"),
    "insights_orders": ("tenant_id", "order_id"),
    "insights_support": ("tenant_id", "customer_key", "source", "kind", "item_id"),
    "links": ("pipeline", "b2connect_key"),
    "pending_links": ("pipeline", "record_key", "what"),
    "rule_firings": ("tenant_id", "customer_key", "rule", "transition"),
    "consent_holds": ("pipeline", "record_key"),
    "consent_states": ("subject_id", "channel", "purpose"),
    "consent_system_states": ("subject_id", "system", "channel", "purpose"),
    "erasure_steps": ("request_id", "system"),
    "tombstones": ("subject_hash",),
}
#: natural primary keys of revision 0012, each becoming per tenant
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "audit_subject_aliases": ("alias_hash", "subject_hash"),
    "locks": ("name",),
    "settings": ("name",),
    "subject_keys": ("subject_hash",),
    "webhook_receipts": ("key",),
    "erasure_subjects": ("request_id",),
}


def _uq(table: str, columns: Sequence[str]) -> str:
    return f"uq_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    """Add ``b2sync_tenant`` (existing rows: the upgrading tenant), re-key, scope."""
    tenant = str(context.config.attributes.get("tenant") or "default")
    for table in TABLES:
        op.add_column(table, sa.Column(COLUMN, sa.String(64), nullable=True))
        op.execute(sa.table(table, sa.column(COLUMN)).update().values({COLUMN: tenant}))
        with op.batch_alter_table(table) as batch:
            batch.alter_column(COLUMN, existing_type=sa.String(64), nullable=False)
            if table in UNIQUES:
                batch.drop_constraint(_uq(table, UNIQUES[table]), type_="unique")
                batch.create_unique_constraint(f"uq_{table}_tenant_key", [COLUMN, *UNIQUES[table]])
            if table in PRIMARY_KEYS:
                batch.drop_constraint(f"pk_{table}", type_="primary")
                batch.create_primary_key(f"pk_{table}", [COLUMN, *PRIMARY_KEYS[table]])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} "
                f"USING ({COLUMN} = current_setting('{SETTING}')) "
                f"WITH CHECK ({COLUMN} = current_setting('{SETTING}'))"
            )
    else:
        settings = sa.table("settings", sa.column("name"), sa.column("value"), sa.column(COLUMN))
        op.execute(settings.insert().values(name=RECORD, value=tenant, **{COLUMN: tenant}))


def downgrade() -> None:
    """Back to one tenant per store: refused while the store holds rows of several tenants."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in TABLES:
        count = bind.execute(sa.text(f"SELECT count(DISTINCT {COLUMN}) FROM {table}")).scalar()
        if count and count > 1:
            msg = f"{table} holds rows of {count} tenants: cannot go back to one tenant per store"
            raise RuntimeError(msg)
    op.execute(sa.text("DELETE FROM settings WHERE name = :n").bindparams(n=RECORD))
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            if table in PRIMARY_KEYS:
                batch.drop_constraint(f"pk_{table}", type_="primary")
                batch.create_primary_key(f"pk_{table}", list(PRIMARY_KEYS[table]))
            if table in UNIQUES:
                batch.drop_constraint(f"uq_{table}_tenant_key", type_="unique")
                batch.create_unique_constraint(_uq(table, UNIQUES[table]), list(UNIQUES[table]))
            batch.drop_column(COLUMN)
