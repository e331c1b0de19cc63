"""record_events: every action, the chain, encryption at rest, and transactional atomicity."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audit import (
    ACTIONS,
    GENESIS,
    AuditEvent,
    Filters,
    KeyRing,
    config_loaded_event,
    events_table,
    record_events,
    search,
)
from tests.audit.conftest import Append, write_event


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_produces_an_event(
    action: str, append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """Each action type is recorded and reads back with its action and fields."""
    append([write_event(action=action)])
    with store_engine.connect() as conn:
        views = search(conn, keys, Filters(action=action))
    assert [v.action for v in views] == [action]
    assert views[0].changed_fields == ["email", "firstName"]


def test_config_loaded_event_keeps_hash_and_changes(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """config.loaded stores the config hash and the changed pipelines/fields."""
    append([config_loaded_event(tenant_id="t1", config_hash="abc123", changed={"p1": ["email"]})])
    with store_engine.connect() as conn:
        (view,) = search(conn, keys, Filters(action="config.loaded"))
    assert view.details == {"config_hash": "abc123", "pipelines": ["p1"]}
    assert view.changed_fields == ["p1.email"]
    assert view.record_key == "abc123"


def test_events_chain_per_tenant(append: Append, store_engine: sa.Engine) -> None:
    """Sequence numbers and prev_hash links are kept per tenant."""
    append([write_event(tenant="a"), write_event(tenant="b"), write_event(tenant="a")])
    append([write_event(tenant="a")])
    with store_engine.connect() as conn:
        rows = conn.execute(
            sa.select(events_table).order_by(events_table.c.tenant_id, events_table.c.seq)
        ).all()
    a_rows = [r for r in rows if r.tenant_id == "a"]
    assert [r.seq for r in a_rows] == [1, 2, 3]
    assert a_rows[0].prev_hash == GENESIS
    assert [r.prev_hash for r in a_rows[1:]] == [r.hash for r in a_rows[:-1]]
    assert [r.seq for r in rows if r.tenant_id == "b"] == [1]


def test_personal_values_are_not_stored_in_clear(append: Append, store_engine: sa.Engine) -> None:
    """Neither the email nor the record key appears in any stored column."""
    append([write_event("grace@example.com", key="CUST-4711")])
    with store_engine.connect() as conn:
        row = conn.execute(sa.select(events_table)).one()
    dump = repr(tuple(row)).lower() + bytes(row.payload_ciphertext).decode("latin-1").lower()
    assert "grace" not in dump
    assert "cust-4711" not in dump


def test_rolled_back_transaction_leaves_no_event(store_engine: sa.Engine, keys: KeyRing) -> None:
    """Events recorded in a transaction that rolls back are gone with it."""
    immediate = store_engine.execution_options(b2sync_begin_immediate=True)
    with pytest.raises(RuntimeError), immediate.begin() as conn:
        record_events(conn, [write_event()], keys=keys)
        raise RuntimeError("the sync batch failed after the audit append")
    with store_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar() == 0


def test_empty_batch_writes_nothing(store_engine: sa.Engine, keys: KeyRing) -> None:
    """An empty batch is a no-op."""
    with store_engine.begin() as conn:
        assert record_events(conn, [], keys=keys) == 0


def test_event_without_subject_keeps_record_key_readable(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """An event about no person still reads back its record key and values."""
    event = AuditEvent(
        actor="orders",
        tenant_id="t1",
        action="crm.write",
        stream="orders",
        record_key="SO-1",
        values={"total": {"old": 1, "new": 2}},
    )
    append([event])
    with store_engine.connect() as conn:
        (view,) = search(conn, keys, Filters())
    assert (view.record_key, view.subject, view.values) == (
        "SO-1",
        None,
        {"total": {"old": 1, "new": 2}},
    )
