"""The consent gate hook: who passes a push pipeline that requires consent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from b2sync.features import RECORD_HOOKS
from connectors.records import Record
from consent import consent_store as cstore
from consent.gate import gate_factory
from consent.model import ConsentStatus, Decision
from mapping.config import Config
from store.models import metadata
from sync import state
from sync.hashing import FieldHasher
from sync.hooks import HookContext, hooks_for

NOW = datetime(2026, 3, 1, tzinfo=UTC)
HASHER = FieldHasher(b"g" * 32)


def config(
    require: bool = True, direction: str = "push", on_withdraw: str = "unsubscribe_only"
) -> Config:
    pipe = {
        "name": "people",
        "b2connect": {"connection": "shop", "stream": "customers"},
        "crm": {"connection": "hs", "object": "contacts"},
        "direction": direction,
        "on_withdraw": on_withdraw,
        "fields": [{"b2connect": "email", "crm": "email"}],
    }
    if require:
        pipe["require_consent"] = {"channel": "email", "purpose": "marketing"}
    return Config.model_validate(
        {
            "connections": {
                "shop": {"type": "b2connect", "url": "u", "token": "${T}", "tenant_id": "t1"},
                "hs": {"type": "hubspot", "token": "${T}"},
            },
            "pipelines": [pipe],
        }
    )


def context(
    db: sa.Engine,
    *,
    dry_run: bool = False,
    origin: str = "b2connect",
    on_withdraw: str = "unsubscribe_only",
) -> HookContext:
    return HookContext(
        pipeline=config(on_withdraw=on_withdraw).pipelines[0],
        db=db,
        hasher=HASHER,
        tenant_id="t1",
        run_id="r1",
        now=NOW,
        dry_run=dry_run,
        origin=origin,  # type: ignore[arg-type]
    )


def decide(db: sa.Engine, email: str, status: ConsentStatus) -> None:
    with db.begin() as conn:
        subject = cstore.subject_for(
            conn, "t1", hashed=cstore.email_hash(HASHER, email), customer_id=None, now=NOW
        )
        assert subject is not None
        cstore.save_decision(conn, subject, Decision("email", "marketing", status, NOW, "x"), NOW)


def person(key: str, email: str) -> Record:
    return Record("customers", key, {"id": key, "email": email})


def holds(db: sa.Engine) -> set[str]:
    with db.connect() as conn:
        return set(conn.execute(sa.select(metadata.tables["consent_holds"].c.record_key)).scalars())


@pytest.fixture
def db(sqlite_store_engine: sa.Engine) -> sa.Engine:
    decide(sqlite_store_engine, "yes@example.com", ConsentStatus.GRANTED)
    decide(sqlite_store_engine, "no@example.com", ConsentStatus.WITHDRAWN)
    return sqlite_store_engine


def gate(db: sa.Engine, records: list[Record], **kw: object) -> list[Record]:
    cfg = config()
    hook = gate_factory(cfg, cfg.pipelines[0])
    assert hook is not None
    return hook(context(db, **kw), records)  # type: ignore[arg-type]


def test_only_people_with_the_consent_pass(db: sa.Engine) -> None:
    """Granted passes; withdrawn and never-asked are dropped and held."""
    records = [
        person("c1", "Yes@Example.com "),
        person("c2", "no@example.com"),
        person("c3", "new@example.com"),
    ]
    assert [r.key for r in gate(db, records)] == ["c1"]
    assert holds(db) == {"c2", "c3"}


def test_a_person_who_passes_is_no_longer_held(db: sa.Engine) -> None:
    """Once consent is granted, passing the gate clears the hold."""
    gate(db, [person("c3", "new@example.com")])
    decide(db, "new@example.com", ConsentStatus.GRANTED)
    assert [r.key for r in gate(db, [person("c3", "new@example.com")])] == ["c3"]
    assert holds(db) == set()


def test_a_dry_run_holds_nobody(db: sa.Engine) -> None:
    """A dry run drops the same people but writes nothing."""
    assert gate(db, [person("c2", "no@example.com")], dry_run=True) == []
    assert holds(db) == set()


def test_records_read_from_a_crm_pass_untouched(db: sa.Engine) -> None:
    """The gate guards pushes only; a pull read is not filtered."""
    records = [person("c2", "no@example.com")]
    assert gate(db, records, origin="crm") == records


def test_deletions_pass(db: sa.Engine) -> None:
    """A deleted record still reaches the engine, which handles deletions."""
    gone = Record("customers", "c2", {"id": "c2"}, deleted=True)
    assert gate(db, [gone]) == [gone]


def test_pipelines_without_the_requirement_have_no_gate() -> None:
    """No require_consent, or a pull pipeline: no hook."""
    for cfg in (config(require=False), config(direction="pull")):
        assert gate_factory(cfg, cfg.pipelines[0]) is None


def test_the_gate_is_registered_as_a_record_hook() -> None:
    """The product's record hooks include the gate, right after the tombstone hook."""
    cfg = config()
    assert RECORD_HOOKS[1] is gate_factory
    hooks = hooks_for(RECORD_HOOKS, cfg, cfg.pipelines[0])
    names = [getattr(getattr(h, "func", None), "__name__", "") for h in hooks]
    assert "consent_gate" in names


def test_keep_lets_people_already_in_the_crm_stay_synced(db: sa.Engine) -> None:
    """on_withdraw: keep: a linked person who withdrew still syncs; new ones still need consent."""
    with db.begin() as conn:
        state.upsert_links(
            conn, pipeline="people", tenant_id="t1", crm_object="contacts",
            rows=[("c2", "hs-2", {}, "h")], now=NOW,
        )  # fmt: skip
    records = [person("c2", "no@example.com"), person("c3", "new@example.com")]
    kept = gate(db, records, on_withdraw="keep")
    assert [r.key for r in kept] == ["c2"]
    assert [r.key for r in gate(db, records)] == []
