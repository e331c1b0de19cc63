"""Alembic migrations: empty -> head, idempotence, schema == models, downgrade."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from store import Run, current_revision, downgrade, head_revision, metadata, session_scope, upgrade

TABLES = {
    "audit_events",
    "audit_subject_aliases",
    "conflicts",
    "consent_holds",
    "consent_states",
    "consent_subjects",
    "consent_system_states",
    "cursors",
    "dead_letters",
    "erasure_inbox",
    "erasure_requests",
    "erasure_steps",
    "erasure_subjects",
    "insights_customers",
    "insights_engagement",
    "insights_engagement_totals",
    "insights_orders",
    "insights_support",
    "links",
    "locks",
    "pending_links",
    "rule_firings",
    "runs",
    "settings",
    "subject_keys",
    "tombstone_hits",
    "tombstones",
    "webhook_receipts",
}


def _schema_diffs(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_models_declare_the_expected_tables() -> None:
    """The models define exactly the expected snake_case plural tables."""
    assert set(metadata.tables) == TABLES


def test_current_revision_is_none_before_upgrade(unmigrated_store_engine: sa.Engine) -> None:
    """An empty database has no revision."""
    assert current_revision(unmigrated_store_engine) is None


def test_upgrade_from_empty_reaches_head(unmigrated_store_engine: sa.Engine) -> None:
    """Upgrading an empty database creates every table and records the head revision."""
    upgrade(unmigrated_store_engine)

    assert current_revision(unmigrated_store_engine) == head_revision()
    assert _tables(unmigrated_store_engine) == TABLES


def test_second_upgrade_is_a_no_op(store_engine: sa.Engine) -> None:
    """Upgrading a database already at head changes nothing and keeps its rows."""
    with session_scope(store_engine) as session:
        session.add(Run(id="run-1", pipeline="customers", trigger="manual"))

    upgrade(store_engine)

    assert current_revision(store_engine) == head_revision()
    with session_scope(store_engine) as session:
        assert session.get(Run, "run-1") is not None


def test_upgrade_accepts_a_url(store_url: str, unmigrated_store_engine: sa.Engine) -> None:
    """``upgrade`` takes a URL string as well as an engine."""
    upgrade(store_url)

    assert current_revision(unmigrated_store_engine) == head_revision()


def test_migrated_schema_matches_models(store_engine: sa.Engine) -> None:
    """Alembic's comparison of the migrated database with the models finds no difference."""
    assert _schema_diffs(store_engine) == []


def test_schema_comparison_sees_a_missing_index(store_engine: sa.Engine) -> None:
    """The comparison is not vacuous: dropping an index shows up as a difference."""
    with store_engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_links_pipeline_crm_id")

    diffs = _schema_diffs(store_engine)

    assert [diff[0] for diff in diffs if isinstance(diff, tuple)] == ["add_index"]


def test_downgrade_to_base_drops_every_table(store_engine: sa.Engine) -> None:
    """Downgrading to base removes every table and the revision."""
    downgrade(store_engine, "base")

    assert _tables(store_engine) == set()
    assert current_revision(store_engine) is None
