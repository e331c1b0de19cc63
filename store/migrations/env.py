"""Alembic environment: runs migrations on the connection :func:`store.upgrade` passes in."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext

from store._engine import connect, make_engine
from store._tenancy import connection_tenant
from store.models import metadata


def _render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our TypeDecorators as their plain SQLAlchemy type: scripts must not import store."""
    del autogen_context
    if kind == "type" and isinstance(obj, sa.types.TypeDecorator):
        return f"sa.{obj.impl_instance!r}"
    return False


def _run(connection: sa.Connection) -> None:
    #: the tenant whose store this is: 0013 gives it the rows that exist before tenancy
    context.config.attributes["tenant"] = connection_tenant(connection)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, sa.Connection):
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        msg = "no connection given: call store.upgrade(engine) or pass sqlalchemy.url"
        raise RuntimeError(msg)
    engine = make_engine(url)
    try:
        with connect(engine) as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    msg = "offline (--sql) migrations are not supported; run store.upgrade(engine)"
    raise RuntimeError(msg)
_run_online()
