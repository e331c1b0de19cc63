"""Record hooks: a hook can drop records or add source fields before planning."""

from __future__ import annotations

import dataclasses

from connectors.records import Record
from connectors.testing import FakeConnector
from store.models import RunStatus
from sync.hooks import HookContext
from tests.sync.conftest import RunFn, customer


def _drop_c2(context: HookContext, records: list[Record]) -> list[Record]:
    assert context.origin == "b2connect" and context.pipeline.name == "customers"
    return [r for r in records if r.key != "c2"]


def _rename(context: HookContext, records: list[Record]) -> list[Record]:
    return [dataclasses.replace(r, fields={**r.fields, "firstName": "Hooked"}) for r in records]


def test_hook_drops_a_record_and_enriches_the_rest(run: RunFn) -> None:
    """A dropped record is never written; a hook's new value is mapped like a source field."""
    source, target = FakeConnector(), FakeConnector()
    source.feed("customers", [customer("c1", "a@example.com"), customer("c2", "b@example.com")])
    summary = run("customers", source, target, hooks=[_drop_c2, _rename])
    assert summary.status is RunStatus.SUCCEEDED
    assert target.record("contacts", "c2") is None
    assert target.record("contacts", "c1")["firstname"] == "Hooked"  # type: ignore[index]


def test_cursor_moves_past_a_flush_the_hooks_emptied(run: RunFn) -> None:
    """When every record of a flush is dropped the cursor still advances: no re-read."""
    source, target = FakeConnector(), FakeConnector()
    source.feed("customers", [customer("c1", "a@example.com")])
    run("customers", source, target, hooks=[lambda _c, _r: []])
    again = run("customers", source, target)
    assert again.counts["read"] == 0 and target.count("contacts") == 0
