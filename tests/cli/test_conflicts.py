"""`b2sync conflicts list|show|resolve` and `pipelines resume` on a store (no systems)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from b2sync.cli import app
from store import make_engine, upgrade
from store.models import metadata
from sync import state
from sync.breaker import BreakerTrip, record_trip, tripped

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LWZvci1iMnN5bmMtdGVzdHM="
CONFIG = """\
version: 1
state_url: sqlite:///{db}
audit: {{enabled: {audit}}}
connections:
  shop: {{type: b2connect, url: "http://127.0.0.1:9", token: "${{T}}", tenant_id: t1}}
  hs: {{type: hubspot, token: "${{H}}"}}
pipelines:
  - name: people
    b2connect: {{connection: shop, stream: customers}}
    crm: {{connection: hs, object: contacts}}
    fields:
      - {{b2connect: email, crm: email}}
      - {{b2connect: billingAddress.city, crm: city, rule: manual}}
"""
MANUAL = {
    "rule": "manual",
    "b2connect_field": "billingAddress.city",
    "crm_id": "501",
    "b2connect_hash": "hash-b2c",
    "crm_hash": "hash-crm",
    "last_hash": "hash-old",
}


class Store:
    """A config file and its migrated store with one linked record and three conflicts."""

    def __init__(self, tmp_path: Path, audit: bool) -> None:
        self.db_path = tmp_path / "state.db"
        self.config = tmp_path / "config.yaml"
        text = CONFIG.format(db=self.db_path, audit=str(audit).lower())
        self.config.write_text(text, encoding="utf-8")
        self.engine = make_engine(f"sqlite:///{self.db_path}")
        upgrade(self.engine)
        conflicts = [
            ("k1", "manual_rule", "city", MANUAL),
            ("k2", "ambiguous_match", None, {"candidates": ["7", "8"], "field": "email"}),
            ("k3", "restore_needed", None, {"crm_id": "9", "crm_object": "contacts"}),
        ]
        with self.engine.begin() as conn:
            rows = [("k1", "501", {"email": "h1", "city": "hash-old"}, "r")]
            state.upsert_links(
                conn, pipeline="people", tenant_id="t1", crm_object="contacts", rows=rows, now=NOW
            )
            for key, kind, field, details in conflicts:
                conn.execute(
                    sa.insert(metadata.tables["conflicts"]).values(
                        pipeline="people",
                        record_key=key,
                        field=field,
                        kind=kind,
                        details=details,
                        status="open",
                        created_at=NOW,
                    )
                )

    def ids(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            table = metadata.tables["conflicts"]
            return {r.kind: r.id for r in conn.execute(sa.select(table.c.kind, table.c.id))}

    def rows(self, name: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(metadata.tables[name]))]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("B2SYNC_MASTER_KEY", MASTER_KEY)
    return Store(tmp_path, audit=True)


def cli(store: Store, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--config", str(store.config)])


def test_list_shows_open_conflicts_as_a_table(store: Store) -> None:
    """`conflicts list` prints one row per open conflict."""
    result = cli(store, "conflicts", "list")
    assert result.exit_code == 0, result.output
    for kind in ("manual_rule", "ambiguous_match", "restore_needed"):
        assert kind in result.output


def test_list_json_filters_by_kind(store: Store) -> None:
    """`--kind` and `--json` give machine-readable rows of one kind."""
    result = cli(store, "conflicts", "list", "--kind", "manual_rule", "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert (row["record_key"], row["field"], row["details"]["crm_hash"]) == (
        "k1",
        "city",
        "hash-crm",
    )


def test_show_prints_details(store: Store) -> None:
    """`conflicts show ID --json` prints the conflict with its details."""
    result = cli(store, "conflicts", "show", str(store.ids()["ambiguous_match"]), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["details"]["candidates"] == ["7", "8"]


def test_unknown_id_exits_2(store: Store) -> None:
    """An id that does not exist is a usage error."""
    for command in (["show", "999"], ["resolve", "999", "--take", "crm"]):
        assert cli(store, "conflicts", *command).exit_code == 2


def test_manual_take_crm_makes_b2connect_the_unchanged_side(store: Store) -> None:
    """`--take crm` stores B2Connect's hash as last-synced, so only the CRM side has moved."""
    cid = store.ids()["manual_rule"]
    result = cli(store, "conflicts", "resolve", str(cid), "--take", "crm", "--actor", "ann")
    assert result.exit_code == 0, result.output
    [link] = store.rows("links")
    assert link["field_hashes"]["city"] == "hash-b2c"
    [row] = [c for c in store.rows("conflicts") if c["id"] == cid]
    assert row["status"] == "resolved"
    assert json.loads(row["resolution"]) == {
        "actor": "operator:ann",
        "applied": False,
        "take": "crm",
        "value": None,
    }


def test_resolution_event_joins_the_audit_trail(store: Store) -> None:
    """The decision is an audited conflict.resolved event naming field and operator."""
    cid = store.ids()["manual_rule"]
    assert (
        cli(store, "conflicts", "resolve", str(cid), "--take", "crm", "--actor", "bo").exit_code
        == 0
    )
    [event] = [e for e in store.rows("audit_events") if e["action"] == "conflict.resolved"]
    assert event["actor"] == "operator:bo"
    assert event["details"]["take"] == "crm"


def test_value_for_restore_needed_exits_2(store: Store) -> None:
    """A restore_needed conflict takes a side, not a value."""
    cid = store.ids()["restore_needed"]
    result = cli(store, "conflicts", "resolve", str(cid), "--take", "Berlin")
    assert result.exit_code == 2
    assert all(c["status"] == "open" for c in store.rows("conflicts"))


def test_non_candidate_id_exits_2(store: Store) -> None:
    """An ambiguous match resolves only to one of its candidates."""
    cid = store.ids()["ambiguous_match"]
    result = cli(store, "conflicts", "resolve", str(cid), "--take", "42")
    assert result.exit_code == 2
    assert "candidates: 7, 8" in result.output


def test_restore_needed_take_crm_abandons_the_retry(store: Store) -> None:
    """`--take crm` on restore_needed leaves the CRM record deleted: its retry is dropped."""
    with store.engine.begin() as conn:
        state.start_run(conn, "r1", "people", "test", NOW)
        row = state.DeadLetterRow(
            "customers", "k3", {"source": {"id": "k3"}}, "RESTORE_NEEDED", "m", None, NOW
        )
        state.add_dead_letters(conn, "people", "r1", [row], NOW)
    cid = store.ids()["restore_needed"]
    assert cli(store, "conflicts", "resolve", str(cid), "--take", "crm").exit_code == 0
    assert [d["status"] for d in store.rows("dead_letters")] == ["abandoned"]


def test_resume_resets_a_tripped_breaker_audited(store: Store) -> None:
    """`pipelines resume NAME` clears the trip and records an operator.command event."""
    record_trip(store.engine, BreakerTrip("people", "to_crm", 50, 100, 10, NOW))
    result = cli(store, "pipelines", "resume", "people", "--actor", "cy")
    assert result.exit_code == 0, result.output
    with store.engine.connect() as conn:
        assert tripped(conn, "people") is None
    [event] = [e for e in store.rows("audit_events") if e["action"] == "operator.command"]
    assert (event["actor"], event["details"]["command"]) == ("operator:cy", "pipelines resume")


def test_resume_of_a_running_pipeline_exits_2(store: Store) -> None:
    """Resuming a pipeline whose breaker is not tripped is a usage error."""
    assert cli(store, "pipelines", "resume", "people").exit_code == 2


def test_status_json_shows_the_tripped_breaker(store: Store) -> None:
    """`b2sync status --json` carries the trip's counts and what to run."""
    record_trip(store.engine, BreakerTrip("people", "to_crm", 50, 100, 10, NOW))
    result = cli(store, "status", "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["pipelines"]
    assert row["delete_breaker"]["deletes"] == 50
    assert "b2sync pipelines resume people" in row["delete_breaker"]["message"]


def test_status_table_says_until_resumed(store: Store) -> None:
    """The status table shows a tripped pipeline as paused until resumed, with the reason."""
    record_trip(store.engine, BreakerTrip("people", "to_crm", 50, 100, 10, NOW))
    result = cli(store, "status")
    assert result.exit_code == 0, result.output
    assert "until resumed" in result.output
    assert "delete breaker tripped: 50 deletions" in result.output
