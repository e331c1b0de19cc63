"""Unique and foreign-key constraints are enforced by the database itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from store import (
    AuditEvent,
    Cursor,
    DeadLetter,
    ErasureRequest,
    Link,
    Lock,
    PendingLink,
    Run,
    Side,
    Tombstone,
    session_scope,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _add(engine: sa.Engine, *rows: SQLModel) -> None:
    with session_scope(engine) as session:
        session.add_all(rows)


def _link(pipeline: str, key: str) -> Link:
    return Link(
        pipeline=pipeline,
        tenant_id="t1",
        b2connect_key=key,
        crm_object="contacts",
        record_hash="ab" * 32,
        last_synced_at=NOW,
    )


def _event(tenant: str, seq: int) -> AuditEvent:
    return AuditEvent(
        tenant_id=tenant,
        seq=seq,
        actor="pipeline:customers",
        source_system="b2connect",
        target_system="hubspot",
        stream="customers",
        record_key_hash="cd" * 32,
        action="upsert",
        outcome="ok",
        prev_hash="0" * 64,
        hash="ef" * 32,
    )


def _pending(target_key: str) -> PendingLink:
    return PendingLink(
        pipeline="orders",
        record_key="O-1",
        target_pipeline="customers",
        target_key=target_key,
        what="contact",
    )


def test_cursor_is_unique_per_pipeline_stream_and_side(store_engine: sa.Engine) -> None:
    """A second cursor for the same pipeline, stream and side is refused."""
    _add(store_engine, Cursor(pipeline="p", stream="customers", side=Side.CRM, value={"w": 1}))

    with pytest.raises(IntegrityError):
        _add(store_engine, Cursor(pipeline="p", stream="customers", side=Side.CRM, value=2))


def test_cursors_differ_by_side(store_engine: sa.Engine) -> None:
    """The same pipeline and stream hold one cursor per side."""
    _add(
        store_engine,
        Cursor(pipeline="p", stream="customers", side=Side.CRM, value="a"),
        Cursor(pipeline="p", stream="customers", side=Side.B2CONNECT, value="b"),
    )


def test_link_is_unique_per_pipeline_and_b2connect_key(store_engine: sa.Engine) -> None:
    """Two links for one B2Connect key in one pipeline are refused."""
    _add(store_engine, _link("p", "C-1"))

    with pytest.raises(IntegrityError):
        _add(store_engine, _link("p", "C-1"))


def test_same_b2connect_key_may_link_in_two_pipelines(store_engine: sa.Engine) -> None:
    """One B2Connect key can be linked once in each pipeline."""
    _add(store_engine, _link("to-hubspot", "C-1"), _link("to-salesforce", "C-1"))


def test_tombstone_subject_hash_is_unique(store_engine: sa.Engine) -> None:
    """A subject is tombstoned once."""
    _add(store_engine, Tombstone(subject_hash="aa" * 32, kind="email"))

    with pytest.raises(IntegrityError):
        _add(store_engine, Tombstone(subject_hash="aa" * 32, kind="customer_id"))


def test_audit_seq_is_unique_per_tenant(store_engine: sa.Engine) -> None:
    """Two audit events cannot share a tenant's sequence number; other tenants may."""
    _add(store_engine, _event("t1", 1), _event("t2", 1))

    with pytest.raises(IntegrityError):
        _add(store_engine, _event("t1", 1))


def test_lock_name_is_unique(store_engine: sa.Engine) -> None:
    """A lock name is held by one row only."""
    _add(store_engine, Lock(name="pipeline:p", owner="a", expires_at=NOW))

    with pytest.raises(IntegrityError):
        _add(store_engine, Lock(name="pipeline:p", owner="b", expires_at=NOW))


def test_pending_link_is_unique_per_pipeline_record_and_what(store_engine: sa.Engine) -> None:
    """A record has one pending completion of each kind per pipeline."""
    _add(store_engine, _pending(target_key="C-1"))

    with pytest.raises(IntegrityError):
        _add(store_engine, _pending(target_key="C-2"))


def test_dead_letter_needs_an_existing_run(store_engine: sa.Engine) -> None:
    """A dead letter naming an unknown run is refused (foreign keys are on)."""
    letter = DeadLetter(
        pipeline="p",
        run_id="no-such-run",
        stream="customers",
        record_key="C-1",
        payload={"customerEmail": "x@example.com"},
        error_code="INVALID_EMAIL",
        error_message="bad email",
    )

    with pytest.raises(IntegrityError):
        _add(store_engine, letter)


def test_deleting_an_erasure_request_keeps_its_tombstones(store_engine: sa.Engine) -> None:
    """Tombstones outlive their erasure request: the reference is set to NULL."""
    request = ErasureRequest(tenant_id="t1", subject_ref="ref-1", due_at=NOW + timedelta(days=30))
    _add(store_engine, request)
    _add(
        store_engine, Tombstone(subject_hash="bb" * 32, kind="email", erasure_request_id=request.id)
    )

    with session_scope(store_engine) as session:
        session.delete(session.get(ErasureRequest, request.id))

    with session_scope(store_engine) as session:
        tombstone = session.exec(select(Tombstone)).one()
        assert tombstone.erasure_request_id is None


def test_run_counters_default_to_zero(store_engine: sa.Engine) -> None:
    """A new run starts 'running' with every counter at zero."""
    _add(store_engine, Run(id="r1", pipeline="p", trigger="manual"))

    with session_scope(store_engine) as session:
        run = session.get(Run, "r1")
        assert run is not None
        counters = (run.records_read, run.records_written, run.records_failed, run.api_calls)
        assert (run.status, counters) == ("running", (0, 0, 0, 0))
