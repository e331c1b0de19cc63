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

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMN = "b2sync_tenant"

#: per-tenant unique constraints of revision 0013 (table -> natural key)
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
#: per-tenant natural primary keys of revision 0013
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "audit_subject_aliases": ("alias_hash", "subject_hash"),
    "locks": ("name",),
    "settings": ("name",),
    "subject_keys": ("subject_hash",),
    "webhook_receipts": ("key",),
    "erasure_subjects": ("request_id",),
}


def _rekey(*, tenant_last: bool) -> None:
    def order(key: tuple[str, ...]) -> list[str]:
        return [*key, COLUMN] if tenant_last else [COLUMN, *key]

    for table in sorted({*UNIQUES, *PRIMARY_KEYS}):
        with op.batch_alter_table(table) as batch:
            if table in UNIQUES:
                batch.drop_constraint(f"uq_{table}_tenant_key", type_="unique")
                batch.create_unique_constraint(f"uq_{table}_tenant_key", order(UNIQUES[table]))
            if table in PRIMARY_KEYS:
                batch.drop_constraint(f"pk_{table}", type_="primary")
                batch.create_primary_key(f"pk_{table}", order(PRIMARY_KEYS[table]))


def upgrade() -> None:
    """Every per-tenant key: the natural key first, ``b2sync_tenant`` last."""
    _rekey(tenant_last=True)


def downgrade() -> None:
    """Back to ``b2sync_tenant`` first."""
    _rekey(tenant_last=False)
