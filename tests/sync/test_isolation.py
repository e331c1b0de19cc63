"""Per-record isolation: an exception no check foresaw, raised while one
record is hooked or written, dead-letters that record only; the run succeeds and moves on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from connectors.records import Record, WriteItem, WriteResult
from connectors.testing import FakeConnector
from store.models import RunStatus
from sync.hooks import HookContext
from tests.sync.conftest import RunFn, customer
from tests.sync.test_engine import rows


def _three(source: FakeConnector) -> None:
    source.feed("customers", [customer(f"c{i}", f"p{i}@example.com") for i in (1, 2, 3)])


def _dead(db: sa.Engine) -> list[tuple[object, object]]:
    return [(d["record_key"], d["error_code"]) for d in rows(db, "dead_letters")]


def test_a_hook_failing_on_one_record_dead_letters_only_it(run: RunFn, db: sa.Engine) -> None:
    """A hook raising for c2 (a future feature's bug) parks c2; c1 and c3 are written."""

    def fragile(_ctx: HookContext, records: list[Record]) -> list[Record]:
        if any(r.key == "c2" for r in records):
            raise RuntimeError("a bug that only c2's data triggers")
        return records

    source, target = FakeConnector(), FakeConnector()
    _three(source)
    summary = run("customers", source, target, hooks=[fragile])
    assert summary.status is RunStatus.SUCCEEDED
    assert target.count("contacts") == 2 and target.record("contacts", "c2") is None
    assert _dead(db) == [("c2", "PROCESSING_ERROR")]
    again = run("customers", source, target, hooks=[fragile])
    assert again.status is RunStatus.SUCCEEDED and again.counts["read"] == 0  # cursor moved


class _Fragile(FakeConnector):
    """A target whose client library raises (not a vendor error) on one record's payload."""

    def write(self, stream: str, batch: Sequence[WriteItem], **options: Any) -> list[WriteResult]:
        if any(item.key == "c2" for item in batch):
            raise TypeError("the client could not serialise this payload")
        return super().write(stream, batch, **options)


def test_a_write_failing_on_one_record_dead_letters_only_it(run: RunFn, db: sa.Engine) -> None:
    """The batch is retried record by record: c1 and c3 are written, c2 is dead-lettered."""
    source, target = FakeConnector(), _Fragile()
    _three(source)
    summary = run("customers", source, target)
    assert summary.status is RunStatus.SUCCEEDED
    assert {target.record("contacts", k) is not None for k in ("c1", "c3")} == {True}
    assert target.record("contacts", "c2") is None
    assert _dead(db) == [("c2", "PROCESSING_ERROR")]
    links = {r["b2connect_key"] for r in rows(db, "links") if r["crm_id"]}
    assert links == {"c1", "c3"}
