"""Erasure leaves no copy of the person anywhere in the store, and errors never quote PII."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import structlog
from typer.testing import CliRunner

from b2sync.cli import app
from store import make_engine
from store.models import DeadLetterStatus, RunStatus, metadata
from sync import state
from sync.settings import resolve
from tests.e2e.conftest import E2E, by_key

PIPE = "customers-to-hubspot"


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _cli(e2e: E2E, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--config", str(e2e.config_path)])
    return result.exit_code, result.output


def _engine(e2e: E2E) -> sa.Engine:
    return make_engine(resolve(e2e.config.state_url))


def _tables_quoting(engine: sa.Engine, needle: str) -> list[str]:
    """Every ``table.column`` whose text (any column, JSON included) contains ``needle``."""
    found: list[str] = []
    with engine.connect() as conn:
        for name in sa.inspect(conn).get_table_names():
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            for column in table.c:
                text = sa.func.lower(sa.cast(column, sa.Text))
                hit = conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(text.contains(needle))
                ).scalar()
                if hit:
                    found.append(f"{name}.{column.name}")
    return found


def _seed_pull_failure(engine: sa.Engine, crm_id: str, email: str) -> None:
    """What a failed pull leaves: a dead letter keyed by the CRM id, a run error with SQL."""
    now = datetime.now(UTC)
    error = (
        "internal error IntegrityError: (sqlite3.IntegrityError) UNIQUE constraint failed\n"
        f"[SQL: INSERT INTO links (b2connect_key) VALUES (?)]\n[parameters: ('{email}',)]"
    )
    with engine.begin() as conn:
        conn.execute(
            metadata.tables["runs"].insert().values(
                id="run-pull-1", pipeline=PIPE, started_at=now, finished_at=now,
                status=RunStatus.FAILED, trigger="schedule", error=error, records_read=1,
                records_written=0, records_skipped=0, records_failed=1, api_calls=1,
            )
        )  # fmt: skip
        conn.execute(
            metadata.tables["dead_letters"].insert().values(
                pipeline=PIPE, run_id="run-pull-1", stream="contacts", record_key=crm_id,
                payload={"source": {"Email": email.upper(), "firstname": "X"}},
                error_code="INVALID", error_message=f"shop refused {email}",
                status=DeadLetterStatus.PENDING, attempts=1, created_at=now, updated_at=now,
            )
        )  # fmt: skip


def test_erase_purges_pull_dead_letters_and_run_errors(e2e: E2E) -> None:
    """A pull-side dead letter (keyed by the CRM id, email under a CRM field name) and a run
    error quoting the email in its SQL parameters: after `b2sync erase --email` no table holds
    the email and `b2sync status --json` serves no personal data."""
    e2e.sync(PIPE)
    contact = next(iter(by_key(e2e.records("hubspot", "contacts"), "b2connect_id").values()))[0]
    email = contact["properties"]["email"].lower()
    engine = _engine(e2e)
    _seed_pull_failure(engine, str(contact["id"]), email)
    assert _tables_quoting(engine, email)  # the seeded copies are there
    code, out = _cli(e2e, "erase", "--email", email)
    assert code == 0, out
    assert _tables_quoting(engine, email) == []
    code, out = _cli(e2e, "status", "--json")
    assert code == 0 and email not in out.lower()
    (last,) = [p["last_run"] for p in json.loads(out)["pipelines"] if p["pipeline"] == PIPE]
    assert last["id"] == "run-pull-1" and "[redacted]" in last["error"]  # served, masked
    engine.dispose()


def test_run_error_is_stored_without_sql_parameters(e2e: E2E) -> None:
    """A database error quoting a person's email is stored as its type and a redacted text."""
    engine = _engine(e2e)
    e2e.sync(PIPE)
    email = "leak.me@example.com"
    table = sa.Table("t", sa.MetaData(), sa.Column("v", sa.String, unique=True))
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(table.insert().values(v=email))
    try:
        with engine.begin() as conn:
            conn.execute(table.insert().values(v=email))
    except sa.exc.IntegrityError as exc:
        message = f"internal error {type(exc).__name__}: {exc}"
    assert email in message
    with engine.begin() as conn:
        state.start_run(conn, "run-x", PIPE, "manual", datetime.now(UTC))
        state.finish_run(conn, "run-x", RunStatus.FAILED, {}, message, datetime.now(UTC))
        stored = conn.execute(
            sa.select(metadata.tables["runs"].c.error).where(
                metadata.tables["runs"].c.id == "run-x"
            )
        ).scalar_one()
    assert stored.startswith("internal error IntegrityError")
    assert email not in stored and "[parameters" not in stored and "[SQL" not in stored
    engine.dispose()
