"""What a worker does once per tenant before its first API call, without waste: a store
already at the head is not migrated again (Alembic reads every script each time), and the
base file all tenants share is parsed once per process (yet an edit of it is seen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import alembic.command
import pytest

import b2sync.tenants as tenancy
from b2sync.tenants import load_tenants
from store import current_revision, downgrade, head_revision, make_engine, upgrade
from tests.scale.test_tenants import BASE, PIPE


def test_a_store_at_the_head_is_not_migrated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``upgrade`` of a store at the head runs no Alembic upgrade; one behind still gets it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        upgrade(engine)
        calls: list[str] = []
        real = alembic.command.upgrade

        def counted(config: Any, revision: str, **kwargs: Any) -> None:
            calls.append(revision)
            real(config, revision, **kwargs)

        monkeypatch.setattr(alembic.command, "upgrade", counted)
        upgrade(engine)
        assert calls == [], "a store at the head: nothing to do, no scripts read"
        downgrade(engine, "-1")
        upgrade(engine)
        assert calls == ["head"] and current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_tenants_share_one_parse_of_their_base_and_see_its_edits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three tenants on one base: their configs parse the base once; an edit of the base is
    (even one of the same size, made at once) is in the next config built."""
    base = tmp_path / "base.yaml"
    base.write_text(BASE, encoding="utf-8")
    lines = ["tenants:"]
    for tenant in ("a", "b", "c"):
        (tmp_path / f"{tenant}.yaml").write_text(
            f"state_url: sqlite:///{tmp_path}/{tenant}.db\n", encoding="utf-8"
        )
        lines.append(f"  - {{id: {tenant}, config: {tenant}.yaml, base: base.yaml}}")
    (tmp_path / "tenants.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tenants = load_tenants(tmp_path / "tenants.yaml")
    read: list[Path] = []
    real = tenancy._read_yaml

    def counted(path: Path) -> Any:
        read.append(path)
        return real(path)

    monkeypatch.setattr(tenancy, "_read_yaml", counted)
    schedules = {t: tenants.get(t).config().pipeline(PIPE).schedule.every for t in "abc"}
    assert schedules == dict.fromkeys("abc", "5m")
    assert len([p for p in read if p.name == "base.yaml"]) <= 1, read
    base.write_text(BASE.replace("every: 5m", "every: 7m"), encoding="utf-8")
    assert tenants.get("b").config().pipeline(PIPE).schedule.every == "7m", (
        "a quick same-size edit is seen"
    )
