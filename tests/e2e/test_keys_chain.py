"""Attacks on the audit chain and key mistakes, through the `b2sync` command line.

A database writer rewrites the chain (recomputing the hashes) or forges the purge marker:
`audit verify` names the event or marker. A changed master key is refused (exit 2) before
anything is written; `keys rotate` moves to a new key and the tombstones still block.
"""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from typer.testing import CliRunner

from audit import HASHED_COLUMNS, chain_head, event_hash, events_table
from b2sync.cli import app
from consent.erasure.daemon import PrivacyTasks
from store import make_engine
from store.models import metadata
from sync.settings import resolve
from tests.e2e.conftest import E2E, MASTER_KEY, by_key, config_for

PIPE = "customers-to-hubspot"
NEW_KEY = base64.b64encode(bytes(range(100, 132))).decode()
_settings = metadata.tables["settings"]


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def anchored(e2e: E2E, tmp_path: Path) -> Path:
    """The e2e config with ``audit.anchor_path`` set; returns the anchor file's path."""
    path = tmp_path / "anchors" / "audit.jsonl"
    text = e2e.config_path.read_text(encoding="utf-8")
    text = text.replace(
        "audit:\n  enabled: true", f"audit:\n  enabled: true\n  anchor_path: {path}"
    )
    e2e.config, e2e.config_path = config_for(tmp_path, text)
    return path


def _cli(e2e: E2E, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--config", str(e2e.config_path)])
    return result.exit_code, result.output


def _engine(e2e: E2E) -> sa.Engine:
    return make_engine(resolve(e2e.config.state_url))


def _rewrite_chain(engine: sa.Engine, tenant: str, seq: int) -> None:
    """The attacker edits event ``seq`` and recomputes every SHA-256 hash from there on."""
    columns = [events_table.c[name] for name in (*HASHED_COLUMNS, "id", "hash")]
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(*columns)
            .where(events_table.c.tenant_id == tenant)
            .order_by(events_table.c.seq)
        ).all()
        prev = "0" * 64
        for row in rows:
            values = row._asdict()
            if values["seq"] < seq:
                prev = values["hash"]
                continue
            if values["seq"] == seq:
                values["outcome"] = "failed"
            values["prev_hash"] = prev
            prev = event_hash(values, None)
            conn.execute(
                events_table.update()
                .where(events_table.c.id == values["id"])
                .values(outcome=values["outcome"], prev_hash=values["prev_hash"], hash=prev)
            )


def _tenant(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.select(events_table.c.tenant_id).limit(1)).scalar_one())


def test_rewritten_chain_with_recomputed_hashes_fails_verify(e2e: E2E, anchored: Path) -> None:
    """Editing event 2 and recomputing every SHA-256 after it: verify exits 1 naming event 2."""
    assert _cli(e2e, "sync", PIPE)[0] == 0
    code, out = _cli(e2e, "audit", "anchor")
    assert code == 0, out
    assert stat.S_IMODE(anchored.stat().st_mode) == 0o600
    db_file = Path(resolve(e2e.config.state_url).removeprefix("sqlite:///"))
    assert stat.S_IMODE(db_file.stat().st_mode) == 0o600
    engine = _engine(e2e)
    tenant = _tenant(engine)
    _rewrite_chain(engine, tenant, 2)
    engine.dispose()
    code, out = _cli(e2e, "audit", "verify")
    assert code == 1, out
    assert f"{tenant}: altered at event 2" in out


def test_forged_purge_marker_fails_verify(e2e: E2E) -> None:
    """Deleting events 2..4 and writing a purge marker that 'kept' from 5: verify names the
    forged marker and the removed events."""
    assert _cli(e2e, "sync", PIPE)[0] == 0
    engine = _engine(e2e)
    tenant = _tenant(engine)
    with engine.begin() as conn:
        conn.execute(events_table.delete().where(events_table.c.seq.between(2, 4)))
        conn.execute(_settings.insert().values(name=f"audit_purged:{tenant}", value='{"seq": 5}'))
    engine.dispose()
    code, out = _cli(e2e, "audit", "verify")
    assert code == 1, out
    assert f"audit_purged:{tenant}" in out and "forged" in out
    assert "removed" in out


def test_whole_database_rewrite_is_caught_by_the_anchor_file(e2e: E2E, anchored: Path) -> None:
    """Rewriting the whole chain and dropping every marker and anchor in the database still
    disagrees with the signed head in the anchor file; a forged line in the file is named."""
    assert _cli(e2e, "sync", PIPE)[0] == 0
    assert _cli(e2e, "audit", "anchor")[0] == 0
    engine = _engine(e2e)
    tenant = _tenant(engine)
    _rewrite_chain(engine, tenant, 1)
    with engine.begin() as conn:
        conn.execute(_settings.delete().where(_settings.c.name.like("audit_%")))
    engine.dispose()
    with anchored.open("a", encoding="utf-8") as out:
        out.write(
            json.dumps({"tenant": tenant, "seq": 1, "hash": "0" * 64, "mac": "0" * 64}) + "\n"
        )
    code, out = _cli(e2e, "audit", "verify")
    assert code == 1, out
    assert f"differs from the anchor file {anchored} (line 1)" in out
    assert "line 2 is not signed" in out


def test_changed_master_key_is_refused(e2e: E2E, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a sync, another B2SYNC_MASTER_KEY: `b2sync sync` and `b2sync erase` exit 2 naming
    the key and `keys rotate`, and write nothing."""
    assert _cli(e2e, "sync", PIPE)[0] == 0
    engine = _engine(e2e)
    with engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar()
    monkeypatch.setenv("B2SYNC_MASTER_KEY", NEW_KEY)
    for args in (("sync", PIPE), ("erase", "--email", "someone@example.com")):
        code, out = _cli(e2e, *args)
        assert code == 2, out
        assert "B2SYNC_MASTER_KEY" in out and "keys rotate" in out
    with engine.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar()
    engine.dispose()
    assert after == before


def _audit_off(e2e: E2E, tmp_path: Path) -> None:
    text = e2e.config_path.read_text(encoding="utf-8").replace(
        "audit:\n  enabled: true", "audit:\n  enabled: false"
    )
    e2e.config, e2e.config_path = config_for(tmp_path, text)


def test_changed_hash_key_is_refused(
    e2e: E2E, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting (or changing) the config's hash_key after a sync: exit 2 naming hash_key."""
    assert _cli(e2e, "sync", PIPE)[0] == 0
    text = e2e.config_path.read_text(encoding="utf-8").replace(
        "version: 1\n", "version: 1\nhash_key: ${B2SYNC_TEST_HASH_KEY}\n"
    )
    e2e.config, e2e.config_path = config_for(tmp_path, text)
    monkeypatch.setenv("B2SYNC_TEST_HASH_KEY", "another-field-hash-key-0123456789")
    code, out = _cli(e2e, "sync", PIPE)
    assert code == 2, out
    assert "field-hash key (now the config's hash_key)" in out


def test_audit_off_without_the_master_key_is_refused(
    e2e: E2E, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit off and no master key: the store would have to hold its own tombstone key, so
    `b2sync sync` exits 2 naming the key to set, and the store keeps no key."""
    _audit_off(e2e, tmp_path)
    monkeypatch.delenv("B2SYNC_MASTER_KEY")
    code, out = _cli(e2e, "sync", PIPE)
    assert code == 2, out
    assert "B2SYNC_MASTER_KEY" in out and "hash_key" in out
    engine = _engine(e2e)
    with engine.connect() as conn:
        names = set(conn.execute(sa.select(_settings.c.name)).scalars())
    engine.dispose()
    assert "field_hash_key" not in names


def test_turning_audit_off_keeps_tombstones(e2e: E2E, tmp_path: Path) -> None:
    """Erase with audit on, then turn audit off: the tombstone key does not change (it comes
    from the master key either way), so the restored person stays out of HubSpot."""
    assert _cli(e2e, "sync", PIPE)[0] == 0
    person = _erase_one(e2e)
    _audit_off(e2e, tmp_path)
    _restore(e2e, person)
    code, out = _cli(e2e, "sync", PIPE)
    assert code == 0, out
    assert _live(e2e, person["email"]) == []


def test_legacy_clear_store_key_is_sealed(
    e2e: E2E, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store an older version gave its own clear key: refused without a master key; with
    one, the key is sealed (the clear copy removed) and the next sync sees no change."""
    _audit_off(e2e, tmp_path)
    engine = _engine(e2e)
    from store import upgrade

    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(_settings.insert().values(name="field_hash_key", value="ab" * 32))
    monkeypatch.delenv("B2SYNC_MASTER_KEY")
    code, out = _cli(e2e, "sync", PIPE)
    assert code == 2 and "in clear" in out
    monkeypatch.setenv("B2SYNC_MASTER_KEY", MASTER_KEY)
    assert _cli(e2e, "sync", PIPE)[0] == 0
    with engine.connect() as conn:
        names = set(conn.execute(sa.select(_settings.c.name)).scalars())
    assert "field_hash_key" not in names and "field_hash_key_sealed" in names
    engine.dispose()
    (again,) = e2e.sync(PIPE)
    assert again.counts["written"] == 0  # the same key: no link looks changed


def _erase_one(e2e: E2E) -> dict[str, Any]:
    contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    person = next(c for c in e2e.records("b2connect", "customers") if c["id"] in contacts)
    code, out = _cli(e2e, "erase", "--customer-id", person["id"])
    assert code == 0, out
    assert _live(e2e, person["email"]) == []
    return person


def _restore(e2e: E2E, person: dict[str, Any]) -> None:
    """The shop restores the erased customer under the old id (a stale copy)."""
    restored = {k: v for k, v in person.items() if k not in ("id", "tenantId", "deleted")}
    restored = {k: v for k, v in restored.items() if k not in ("createdAt", "updatedAt")}
    e2e.stack.b2connect.admin_patch("customers", person["id"], {"deleted": False, **restored})


def _live(e2e: E2E, email: str) -> list[dict[str, Any]]:
    return [
        c
        for c in e2e.records("hubspot", "contacts")
        if (c["properties"].get("email") or "").lower() == email.lower() and not c.get("archived")
    ]


def test_rotate_keeps_tombstones_blocking(
    e2e: E2E, anchored: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Erase a person, rotate the master key, the shop restores the person: the next sync
    does not bring them back; the chain still verifies under the new key."""
    assert _cli(e2e, "sync", PIPE)[0] == 0
    person = _erase_one(e2e)
    monkeypatch.setenv("B2SYNC_OLD_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("B2SYNC_MASTER_KEY", NEW_KEY)
    code, out = _cli(e2e, "keys", "rotate")
    assert code == 0, out
    monkeypatch.delenv("B2SYNC_OLD_MASTER_KEY")
    _restore(e2e, person)
    code, out = _cli(e2e, "sync", PIPE)
    assert code == 0, out
    assert _live(e2e, person["email"]) == []
    engine = _engine(e2e)
    with engine.connect() as conn:
        blocked = conn.execute(
            sa.select(sa.func.count()).select_from(metadata.tables["tombstone_hits"])
        ).scalar()
    engine.dispose()
    assert blocked
    code, out = _cli(e2e, "audit", "verify")
    assert code == 0, out


def test_rotate_with_a_wrong_old_key_changes_nothing(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`keys rotate` whose B2SYNC_OLD_MASTER_KEY is not the store's key: exit 2, and the old
    key still opens the store."""
    assert _cli(e2e, "sync", PIPE)[0] == 0
    monkeypatch.setenv("B2SYNC_OLD_MASTER_KEY", NEW_KEY)
    monkeypatch.setenv("B2SYNC_MASTER_KEY", base64.b64encode(bytes(32)).decode())
    code, out = _cli(e2e, "keys", "rotate")
    assert code == 2 and "B2SYNC_OLD_MASTER_KEY" in out
    monkeypatch.setenv("B2SYNC_MASTER_KEY", MASTER_KEY)
    assert _cli(e2e, "audit", "verify")[0] == 0


def test_daemon_anchors_the_head_after_an_erasure(e2e: E2E, anchored: Path) -> None:
    """The daemon's erasure task, having carried out a request, appends the signed chain head
    to audit.anchor_path at once; truncating the tail afterwards is caught by verify."""
    assert _cli(e2e, "sync", PIPE)[0] == 0
    assert _cli(e2e, "erase", "--email", "someone@example.com", "--no-process")[0] == 0
    runner = e2e.runner()
    try:
        PrivacyTasks(lambda: runner).erasure_tick()
        with runner.db.connect() as conn:
            tenant = str(conn.execute(sa.select(events_table.c.tenant_id).limit(1)).scalar_one())
            head = chain_head(conn, tenant)
    finally:
        runner.close()
    lines = [json.loads(line) for line in anchored.read_text(encoding="utf-8").splitlines()]
    assert [(x["tenant"], x["seq"], x["hash"]) for x in lines] == [(tenant, *head)]
    engine = _engine(e2e)
    with engine.begin() as conn:
        conn.execute(events_table.delete().where(events_table.c.seq == head[0]))
        conn.execute(_settings.delete().where(_settings.c.name.like("audit_anchor:%")))
    engine.dispose()
    code, out = _cli(e2e, "audit", "verify")
    assert code == 1 and "truncated" in out and str(anchored) in out
