"""Tenant isolation: every row carries its tenant, every query is scoped by it.

Each table has a ``b2sync_tenant`` column (the deployment's tenant id, ``tenants.yaml``'s
``id``; ``default`` for a plain ``--config`` deployment). It is not ``tenant_id``: that column,
on the tables that have it, is the *B2Connect* tenant (one config may read several shops).

- **Filled by the store**: an engine is made for one tenant (:func:`store.make_engine`'s
  ``tenant``); each pooled connection records it in ``Connection.info`` and the column's
  default reads it there, so no insert can forget it.
- **PostgreSQL**: row-level security. Each connection runs ``set_config('b2sync.tenant', ...)``
  and every table has the policy ``tenant_isolation`` (enabled and forced, so the owner obeys
  it too): the database filters every SELECT, UPDATE and DELETE and refuses an INSERT naming
  another tenant. Superusers and ``BYPASSRLS`` roles are not filtered:
  :func:`check_rls_role` refuses them for a shared database.
- **SQLite** has no row-level security: a file holds one tenant. It records its tenant (the
  ``settings`` row :data:`TENANT_RECORD`) and an engine of another tenant is refused.
- **Natural keys per tenant**: every unique constraint (named ``uq_<table>_tenant_key``) and
  every primary key but a surrogate ``id`` ends with ``b2sync_tenant`` (two tenants may
  both have a pipeline ``customers``, its cursors, its lease and its fence). It ends the key,
  not starts it: the engine's lookups name the natural key and not the tenant (PostgreSQL's
  policy adds it, a SQLite file has one), and an index is only searched by its leading
  columns. A key starting with the tenant made every keyed lookup on SQLite a scan of the
  table (migration 0015).
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.naming import conv

from store.errors import StoreTenantError

__all__ = [
    "DEFAULT_TENANT",
    "TENANT_COLUMN",
    "TENANT_ENV",
    "TENANT_RECORD",
    "TENANT_SETTING",
    "check_rls_role",
    "connection_tenant",
    "engine_tenant",
    "on_connect",
    "scope_tables",
]

DEFAULT_TENANT = "default"
TENANT_COLUMN = "b2sync_tenant"
#: the PostgreSQL session setting the row-level security policies compare with
TENANT_SETTING = "b2sync.tenant"
#: the process's tenant when an engine is made without one (``b2sync --tenant`` sets it)
TENANT_ENV = "B2SYNC_TENANT"
#: the ``settings`` row naming a SQLite file's tenant
TENANT_RECORD = "store.tenant"
_INFO_KEY = "b2sync_tenant"


def engine_tenant(tenant: str | None) -> str:
    """The tenant an engine is made for: ``tenant``, else ``$B2SYNC_TENANT``, else default."""
    return tenant or os.environ.get(TENANT_ENV) or DEFAULT_TENANT


def connection_tenant(conn: sa.Connection) -> str:
    """The tenant of a connection made by :func:`store.make_engine`."""
    return str(conn.info.get(_INFO_KEY, DEFAULT_TENANT))


def _current_tenant(context: DefaultExecutionContext) -> str:
    """Column default of ``b2sync_tenant``: the tenant of the inserting connection."""
    return connection_tenant(context.root_connection)


def on_connect(tenant: str, *, postgres: bool) -> Any:
    """A pool ``connect`` listener recording ``tenant`` in the connection's info; on
    PostgreSQL it sets ``b2sync.tenant`` for the session, on SQLite it refuses a file that
    records another tenant."""

    def listener(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_INFO_KEY] = tenant
        cursor = dbapi_connection.cursor()
        try:
            if postgres:
                cursor.execute("SELECT set_config(%s, %s, false)", (TENANT_SETTING, tenant))
                dbapi_connection.commit()
                return
            owner = _sqlite_owner(cursor)
        finally:
            cursor.close()
        if owner is not None and owner != tenant:
            dbapi_connection.close()
            raise StoreTenantError(
                f"this SQLite store belongs to tenant {owner!r}, not {tenant!r}: SQLite has "
                f"no row-level security, so a file holds one tenant; give tenant {tenant!r} "
                "its own file (or put the tenants in one PostgreSQL database)"
            )

    return listener


def _sqlite_owner(cursor: Any) -> str | None:
    try:
        cursor.execute("SELECT value FROM settings WHERE name = ?", (TENANT_RECORD,))
    except sqlite3.OperationalError:  # no settings table yet: a new store, any tenant
        return None
    row = cursor.fetchone()
    return None if row is None else str(row[0])


def scope_tables(metadata: sa.MetaData) -> None:
    """Give every table of ``metadata`` its ``b2sync_tenant`` column and per-tenant keys.

    Called once, after every table class is defined: the ORM mappers keep the keys they were
    mapped with (``session.get(Setting, name)`` still works; the tenant policy or the one-tenant
    SQLite file make ``name`` unique within what a connection can see).
    """
    for table in metadata.tables.values():
        if TENANT_COLUMN in table.c:
            continue
        keys = table.primary_key.columns.keys()
        natural = keys != ["id"]
        table.append_column(
            sa.Column(
                TENANT_COLUMN,
                sa.String(64),
                nullable=False,
                default=_current_tenant,
                primary_key=natural,
            )
        )
        for unique in [c for c in table.constraints if isinstance(c, sa.UniqueConstraint)]:
            if isinstance(unique, sa.PrimaryKeyConstraint):
                continue
            table.constraints.remove(unique)
            table.append_constraint(
                sa.UniqueConstraint(
                    *unique.columns.keys(), TENANT_COLUMN, name=conv(f"uq_{table.name}_tenant_key")
                )
            )
        if natural:
            table.append_constraint(sa.PrimaryKeyConstraint(*keys, TENANT_COLUMN))


def check_rls_role(conn: sa.Connection) -> None:
    """PostgreSQL: refuse a role that row-level security does not filter.

    Raises:
        StoreTenantError: the role is a superuser or has ``BYPASSRLS``.
    """
    if conn.dialect.name != "postgresql":
        return
    row = conn.execute(
        sa.text("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    ).one()
    if row.rolsuper or row.rolbypassrls:
        power = "SUPERUSER" if row.rolsuper else "BYPASSRLS"
        msg = (
            f"PostgreSQL role {row.rolname!r} is {power}: row-level security does not apply "
            f"to it, so tenants sharing this database could read each other's rows; connect "
            f"as a role with NOSUPERUSER NOBYPASSRLS (ALTER ROLE {row.rolname} NOSUPERUSER "
            f"NOBYPASSRLS, or create one: CREATE ROLE b2sync LOGIN CREATEDB)"
        )
        raise StoreTenantError(msg)
