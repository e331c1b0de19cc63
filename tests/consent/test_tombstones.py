"""The tombstone hook: an erased person's old data is dropped; a new registration passes."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from audit import Filters, search
from b2sync.features import RECORD_HOOKS
from connectors.records import Record
from consent.erasure.model import SubjectIds
from consent.erasure.tombstones import hits, tombstone_factory
from sync.hooks import HookContext, RecordHook, hooks_for
from tests.consent.erasure_kit import MASTER_KEY, T0, Kit, make_kit

ERASED_AT = T0


@pytest.fixture
def kit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kit:
    monkeypatch.setenv("B2SYNC_MASTER_KEY", base64.b64encode(MASTER_KEY).decode())
    made = make_kit(tmp_path)
    made.desk().file(SubjectIds(email="ada@example.com", customer_id="c1"))
    return made


def _hook(kit: Kit, pipeline: str = "people-hs") -> RecordHook:
    hook = tombstone_factory(kit.config, kit.config.pipeline(pipeline))
    assert hook is not None
    return hook


def _context(kit: Kit, pipeline: str = "people-hs", **kw: object) -> HookContext:
    values: dict[str, object] = {
        "pipeline": kit.config.pipeline(pipeline), "db": kit.db, "hasher": kit.hasher,
        "tenant_id": "t1", "run_id": "run-1", "now": T0 + timedelta(days=1), "dry_run": False,
    }  # fmt: skip
    values.update(kw)
    return HookContext(**values)  # type: ignore[arg-type]


def _person(key: str, email: str, changed: timedelta, **fields: object) -> Record:
    return Record(
        "customers", key, {"id": key, "email": email, **fields}, updated_at=ERASED_AT + changed
    )


def test_hook_is_registered_for_every_pipeline_about_people(kit: Kit) -> None:
    """customers, orders and consents pipelines get the hook; it is the product's first hook."""
    assert RECORD_HOOKS[0] is tombstone_factory
    assert len(hooks_for(RECORD_HOOKS, kit.config, kit.config.pipeline("people-hs"))) >= 1


def test_old_id_is_blocked_whatever_its_date(kit: Kit) -> None:
    """A record under an erased customer id is dropped even if changed after the erasure."""
    kept = _hook(kit)(_context(kit), [_person("c1", "other@example.com", timedelta(days=2))])
    assert kept == []
    with kit.db.connect() as conn:
        [hit] = hits(conn)
    assert (hit["reason"], hit["origin"], hit["pipeline"]) == (
        "erased_id",
        "b2connect",
        "people-hs",
    )


def test_same_email_with_data_from_before_the_erasure_is_blocked(kit: Kit) -> None:
    """Stale data of the same person under another key (a replay, a CRM copy) is dropped."""
    stale = _person("c9", "ADA@example.com ", -timedelta(hours=1))
    assert _hook(kit)(_context(kit, origin="crm"), [stale]) == []
    with kit.db.connect() as conn:
        assert [h["reason"] for h in hits(conn)] == ["stale_email"]


def test_new_registration_after_the_erasure_passes(kit: Kit) -> None:
    """A new id with the same email, created after the erasure, is a new person."""
    fresh = _person("c2", "ada@example.com", timedelta(minutes=5))
    assert _hook(kit)(_context(kit), [fresh]) == [fresh]
    with kit.db.connect() as conn:
        assert hits(conn) == []


def test_orders_of_an_erased_customer_are_blocked(kit: Kit) -> None:
    """An order carrying the erased customer's id does not bring their data back."""
    order = Record("orders", "o1", {"customerId": "c1", "totalAmount": 5}, updated_at=T0)
    other = Record("orders", "o2", {"customerId": "c7", "totalAmount": 5}, updated_at=T0)
    assert _hook(kit, "orders-hs")(_context(kit, "orders-hs"), [order, other]) == [other]


def test_deletions_pass_and_are_not_counted(kit: Kit) -> None:
    """A deletion of the erased record is not an attempt to bring it back."""
    gone = Record("customers", "c1", {"id": "c1"}, deleted=True)
    assert _hook(kit)(_context(kit), [gone]) == [gone]
    with kit.db.connect() as conn:
        assert hits(conn) == []


def test_dry_run_drops_without_recording(kit: Kit) -> None:
    """A dry run shows the record dropped but writes no hit."""
    assert _hook(kit)(_context(kit, dry_run=True), [_person("c1", "x@y.org", timedelta(0))]) == []
    with kit.db.connect() as conn:
        assert hits(conn) == []


def test_each_blocked_attempt_is_an_audit_event(kit: Kit) -> None:
    """One blocked.tombstone event per hit, with the reason and the request as facts."""
    records = [
        _person("c1", "x@y.org", timedelta(0)),
        _person("c3", "ada@example.com", -timedelta(1)),
    ]
    _hook(kit)(_context(kit), records)
    assert kit.keys is not None
    with kit.db.connect() as conn:
        events = search(conn, kit.keys, Filters(action="blocked.tombstone"))
    assert sorted(str((e.details or {})["reason"]) for e in events) == ["erased_id", "stale_email"]
    assert all((e.details or {})["erasure_request"] == 1 for e in events)
