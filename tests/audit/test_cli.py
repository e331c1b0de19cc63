"""``b2sync audit`` commands against a SQLite store."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from audit import KeyRing, events_table, record_events
from b2sync.cli.audit import audit_app as app
from tests.audit.conftest import MASTER_KEY, write_event

runner = CliRunner()


@pytest.fixture
def url(
    sqlite_store_engine: sa.Engine, sqlite_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A store with three events, and the master key in the environment."""
    monkeypatch.setenv("B2SYNC_MASTER_KEY", base64.b64encode(MASTER_KEY).decode())
    with sqlite_store_engine.begin() as conn:
        record_events(
            conn,
            [
                write_event("ada@example.com"),
                write_event("bob@example.com", minutes=1),
                write_event("ada@example.com", minutes=2),
            ],
            keys=KeyRing(MASTER_KEY),
        )
    return sqlite_store_url


def test_verify_ok(url: str) -> None:
    """verify exits 0 on an intact chain."""
    result = runner.invoke(app, ["verify", "--state-url", url])
    assert result.exit_code == 0, result.output
    assert "t1: 3 events checked" in result.output


def test_verify_names_the_broken_event(url: str, sqlite_store_engine: sa.Engine) -> None:
    """verify exits 1 and names the altered event."""
    with sqlite_store_engine.begin() as conn:
        conn.execute(events_table.update().where(events_table.c.seq == 2).values(actor="x"))
    result = runner.invoke(app, ["verify", "--state-url", url])
    assert result.exit_code == 1
    assert "altered at event 2" in result.output


def test_search_csv_by_subject(url: str) -> None:
    """search --subject --format csv prints that person's events as parseable CSV."""
    result = runner.invoke(
        app, ["search", "--state-url", url, "--subject", "ADA@example.com", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["subject"] for r in rows] == ["ada@example.com", "ada@example.com"]


def test_search_table(url: str) -> None:
    """The default table format shows the events."""
    result = runner.invoke(app, ["search", "--state-url", url, "--customer-id", "bob@example.com"])
    assert result.exit_code == 0, result.output
    assert "bob@example.com" in result.output


def test_export_json_to_file(url: str, tmp_path: Path) -> None:
    """export writes every event as JSON."""
    out = tmp_path / "audit.json"
    result = runner.invoke(app, ["export", "--state-url", url, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text())) == 3


def test_shred_then_hold_refused_order(url: str) -> None:
    """hold blocks shred (exit 1); after --off, shred works and the chain verifies."""
    assert (
        runner.invoke(app, ["hold", "--state-url", url, "--subject", "ada@example.com"]).exit_code
        == 0
    )
    refused = runner.invoke(app, ["shred", "--state-url", url, "--subject", "ada@example.com"])
    assert refused.exit_code == 1
    assert "legal hold" in refused.output
    assert (
        runner.invoke(
            app, ["hold", "--state-url", url, "--subject", "ada@example.com", "--off"]
        ).exit_code
        == 0
    )
    shredded = runner.invoke(app, ["shred", "--state-url", url, "--subject", "ada@example.com"])
    assert shredded.exit_code == 0, shredded.output
    found = runner.invoke(
        app, ["search", "--state-url", url, "--subject", "ada@example.com", "--format", "json"]
    )
    assert {v["values"] for v in json.loads(found.output) if v["action"] == "crm.write"} == {
        "[erased]"
    }
    assert runner.invoke(app, ["verify", "--state-url", url]).exit_code == 0


def test_missing_master_key_is_explained(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a master key, search exits 2 and says which variable to set."""
    monkeypatch.delenv("B2SYNC_MASTER_KEY")
    result = runner.invoke(app, ["search", "--state-url", url])
    assert result.exit_code == 2
    assert "B2SYNC_MASTER_KEY" in result.output


def test_state_url_from_config_env_reference(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--config resolves a ${ENV} state_url."""
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\nstate_url: ${AUDIT_TEST_STATE}\nconnections: {}\n")
    monkeypatch.setenv("AUDIT_TEST_STATE", url)
    result = runner.invoke(app, ["verify", "--config", str(config)])
    assert result.exit_code == 0, result.output
