"""A chain written by an older version (plain SHA-256) verifies as legacy, goes on keyed, and
its legacy part still cannot be rewritten; `b2sync audit` CLI against a SQLite store."""

from __future__ import annotations

import base64
import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from audit import HASHED_COLUMNS, KeyRing, event_hash, events_table, record_events
from b2sync.cli.audit import audit_app as app
from store.models import metadata
from tests.audit.conftest import MASTER_KEY, write_event

runner = CliRunner()
_settings = metadata.tables["settings"]


def _as_old_version(engine: sa.Engine) -> None:
    """Re-hash every event with plain SHA-256 and drop the signed purge marker's mac,
    as the version before the keyed chain stored them."""
    columns = [events_table.c[n] for n in (*HASHED_COLUMNS, "id")]
    with engine.begin() as conn:
        prev = "0" * 64
        for row in conn.execute(sa.select(*columns).order_by(events_table.c.seq)).all():
            values = {**row._asdict(), "prev_hash": prev}
            prev = event_hash(values, None)
            conn.execute(
                events_table.update()
                .where(events_table.c.id == values["id"])
                .values(prev_hash=values["prev_hash"], hash=prev)
            )
        conn.execute(_settings.delete().where(_settings.c.name.like("audit_%")))
        conn.execute(_settings.insert().values(name="audit_purged:t1", value='{"seq": 1}'))


@pytest.fixture
def url(
    sqlite_store_engine: sa.Engine, sqlite_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.setenv("B2SYNC_MASTER_KEY", base64.b64encode(MASTER_KEY).decode())
    with sqlite_store_engine.begin() as conn:
        record_events(
            conn, [write_event(f"p{i}@example.com", minutes=i) for i in range(3)],
            keys=KeyRing(MASTER_KEY),
        )  # fmt: skip
    _as_old_version(sqlite_store_engine)
    return sqlite_store_url


def test_legacy_chain_verifies_then_goes_on_keyed(url: str, sqlite_store_engine: sa.Engine) -> None:
    """The old chain verifies; `audit anchor` marks it and signs its purge marker; new events
    are keyed; editing a legacy event with a recomputed SHA-256 is still caught."""
    result = runner.invoke(app, ["verify", "--state-url", url])
    assert result.exit_code == 1 and "audit_purged:t1" in result.output  # unsigned until migrated
    assert runner.invoke(app, ["anchor", "--state-url", url]).exit_code == 0
    with sqlite_store_engine.begin() as conn:
        record_events(conn, [write_event("new@example.com", minutes=9)], keys=KeyRing(MASTER_KEY))
        marker = conn.execute(
            sa.select(_settings.c.value).where(_settings.c.name == "audit_keyed:t1")
        ).scalar_one()
    assert json.loads(marker)["seq"] == 4
    result = runner.invoke(app, ["verify", "--state-url", url])
    assert result.exit_code == 0, result.output
    _rehash_from(sqlite_store_engine, 2)
    result = runner.invoke(app, ["verify", "--state-url", url])
    assert result.exit_code == 1
    assert "t1: altered at event 3" in result.output  # the signed anchor caught it
    with sqlite_store_engine.begin() as conn:  # the attacker drops the anchor too
        conn.execute(_settings.delete().where(_settings.c.name == "audit_anchor:t1"))
    result = runner.invoke(app, ["verify", "--state-url", url])
    assert result.exit_code == 1
    assert "event 4 links to a different hash" in result.output  # the keyed event pins 3


def _rehash_from(engine: sa.Engine, seq: int) -> None:
    """Alter legacy event ``seq`` and recompute the legacy SHA-256 chain up to the marker."""
    columns = [events_table.c[n] for n in (*HASHED_COLUMNS, "id", "hash")]
    with engine.begin() as conn:
        rows = conn.execute(sa.select(*columns).order_by(events_table.c.seq)).all()
        prev = "0" * 64
        for row in rows:
            values = row._asdict()
            if values["seq"] < seq or values["seq"] > 3:
                prev = values["hash"]
                continue
            values["outcome"] = "failed" if values["seq"] == seq else values["outcome"]
            values["prev_hash"] = prev
            prev = event_hash(values, None)
            conn.execute(
                events_table.update()
                .where(events_table.c.id == values["id"])
                .values(outcome=values["outcome"], prev_hash=values["prev_hash"], hash=prev)
            )
