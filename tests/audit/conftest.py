"""Fixtures for the audit tests: a key ring, a migrated store and an append helper."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from audit import AuditEvent, KeyRing, record_events
from audit.events import CRM_WRITE

MASTER_KEY = bytes(range(32))
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

Append = Callable[[Iterable[AuditEvent]], int]


@pytest.fixture
def keys() -> KeyRing:
    """A key ring on a fixed master key."""
    return KeyRing(MASTER_KEY)


@pytest.fixture
def append(store_engine: sa.Engine, keys: KeyRing) -> Append:
    """Record events in their own IMMEDIATE transaction."""
    immediate = store_engine.execution_options(b2sync_begin_immediate=True)

    def run(events: Iterable[AuditEvent]) -> int:
        with immediate.begin() as conn:
            return record_events(conn, events, keys=keys)

    return run


def write_event(
    subject: str = "ada@example.com",
    *,
    minutes: int = 0,
    tenant: str = "t1",
    key: str = "C-1",
    action: str = CRM_WRITE,
) -> AuditEvent:
    """A CRM write of a customer's email and name, ``minutes`` after :data:`T0`."""
    return AuditEvent(
        actor="customers-to-hubspot",
        tenant_id=tenant,
        action=action,
        source_system="b2connect",
        target_system="hubspot",
        stream="customers",
        record_key=key,
        subject=subject,
        changed_fields=["email", "firstName"],
        run_id="run-1",
        batch_id="b-1",
        values={"email": {"old": None, "new": subject}, "firstName": {"old": "A", "new": "Ada"}},
        occurred_at=T0 + timedelta(minutes=minutes),
    )
