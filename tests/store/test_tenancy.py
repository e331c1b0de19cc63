"""Tenant isolation in the store: the engine fills ``b2sync_tenant``, PostgreSQL's row-level
security scopes every statement, a SQLite file holds one tenant, 0013 backfills."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from store import (
    TENANT_COLUMN,
    Setting,
    StoreTenantError,
    make_engine,
    metadata,
    session_scope,
    upgrade,
)

_settings = metadata.tables["settings"]
_locks = metadata.tables["locks"]


def _tenants_of(engine: sa.Engine, table: sa.Table) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(table.c[TENANT_COLUMN]).order_by(TENANT_COLUMN)).scalars()
        )


def test_an_insert_gets_the_engine_tenant(store_url: str) -> None:
    """ORM and Core inserts that never name the tenant get the engine's; reads by the old key
    (``session.get(Setting, name)``) still work."""
    engine = make_engine(store_url, tenant="acme")
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            session.add(Setting(name="paused_until:p", value="x"))
        with engine.begin() as conn:
            conn.execute(sa.insert(_locks).values(name="p", owner="o", acquired_at=sa.func.now(),
                                                  expires_at=sa.func.now()))  # fmt: skip
        with session_scope(engine) as session:
            found = session.get(Setting, "paused_until:p")
            assert found is not None and found.value == "x"
        assert set(_tenants_of(engine, _settings)) == {"acme"}
        assert _tenants_of(engine, _locks) == ["acme"]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_row_level_security_scopes_every_statement(postgres_store_url: str) -> None:
    """Two tenants in one PostgreSQL schema: each sees, updates and deletes only its rows, may
    use the same natural keys, and cannot insert a row of the other."""
    acme = make_engine(postgres_store_url, tenant="acme")
    globex = make_engine(postgres_store_url, tenant="globex")
    try:
        upgrade(acme)
        for engine in (acme, globex):  # one name, both tenants: keys are per tenant
            with engine.begin() as conn:
                conn.execute(sa.insert(_settings), [{"name": "same", "value": "v"},
                                                    {"name": "other", "value": "v"}])  # fmt: skip
        with acme.connect() as conn, conn.begin() as tx:
            assert conn.execute(sa.text("SELECT count(*) FROM settings")).scalar_one() == 2
            assert conn.execute(sa.text("UPDATE settings SET value = 'w'")).rowcount == 2
            assert conn.execute(sa.text("DELETE FROM settings")).rowcount == 2
            tx.rollback()
        with acme.connect() as conn, pytest.raises(sa.exc.ProgrammingError) as err:
            conn.execute(sa.insert(_settings).values(name="x", value="y", b2sync_tenant="globex"))
        assert "row-level security" in str(err.value)
        with globex.begin() as conn:
            conn.execute(sa.text("DELETE FROM settings WHERE name = 'other'"))
        assert _tenants_of(acme, _settings) == ["acme", "acme"], "globex's delete spared acme"
        assert _tenants_of(globex, _settings) == ["globex"]
    finally:
        acme.dispose()
        globex.dispose()


def test_a_sqlite_file_holds_one_tenant(sqlite_store_url: str) -> None:
    """A SQLite store records the tenant that made it; an engine of another tenant is refused
    when it connects, before it reads or writes anything."""
    acme = make_engine(sqlite_store_url, tenant="acme")
    upgrade(acme)
    acme.dispose()
    globex = make_engine(sqlite_store_url, tenant="globex")
    try:
        with pytest.raises(StoreTenantError, match="belongs to tenant 'acme', not 'globex'"):
            globex.connect()
    finally:
        globex.dispose()


def test_upgrade_gives_existing_rows_the_upgrading_tenant(store_url: str) -> None:
    """0013 on a store with rows (one tenant's, from before tenancy): they get the tenant of
    the engine running the upgrade."""
    engine = make_engine(store_url, tenant="acme")
    try:
        upgrade(engine, "0012")
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO settings (name, value) VALUES ('old', 'v')"))
            conn.execute(sa.text("INSERT INTO locks (name, owner, acquired_at, expires_at) "
                                 "VALUES ('old', 'o', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))  # fmt: skip
        upgrade(engine)
        assert _tenants_of(engine, _locks) == ["acme"]
        with engine.connect() as conn:
            rows = conn.execute(sa.select(_settings.c.name, _settings.c[TENANT_COLUMN])).all()
        assert ("old", "acme") in rows
    finally:
        engine.dispose()
