"""Column types round-trip the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError
from sqlmodel import select

from store import Conflict, ConflictStatus, Cursor, Link, Side, SubjectKey, session_scope

PARIS = timezone(timedelta(hours=1))


def _link(
    last_synced_at: datetime = datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    field_hashes: dict[str, str] | None = None,
) -> Link:
    return Link(
        pipeline="p",
        tenant_id="t1",
        b2connect_key="C-1",
        crm_object="contacts",
        record_hash="ab" * 32,
        last_synced_at=last_synced_at,
        field_hashes=field_hashes or {},
    )


def test_datetimes_come_back_aware_in_utc(store_engine: sa.Engine) -> None:
    """A datetime written in any zone is read back as the same instant, tzinfo=UTC."""
    written = datetime(2026, 3, 1, 13, 30, 15, 123456, tzinfo=PARIS)
    with session_scope(store_engine) as session:
        session.add(_link(last_synced_at=written))

    with session_scope(store_engine) as session:
        link = session.exec(select(Link)).one()

    assert link.last_synced_at == written
    assert link.last_synced_at.tzinfo is UTC
    assert link.last_synced_at.hour == 12


def test_naive_datetimes_are_refused(store_engine: sa.Engine) -> None:
    """Writing a naive datetime fails instead of guessing its zone."""
    with pytest.raises(StatementError, match="naive datetime"), session_scope(store_engine) as s:
        s.add(_link(last_synced_at=datetime(2026, 3, 1, 12, 0)))


def test_datetime_filters_compare_instants(store_engine: sa.Engine) -> None:
    """A WHERE on a datetime column compares instants whatever zone the bound value has."""
    with session_scope(store_engine) as session:
        session.add(_link())

    cutoff = datetime(2026, 3, 1, 12, 30, tzinfo=PARIS)  # 11:30 UTC
    with session_scope(store_engine) as session:
        found = session.exec(select(Link).where(Link.last_synced_at > cutoff)).all()

    assert len(found) == 1


def test_enum_columns_read_back_members(store_engine: sa.Engine) -> None:
    """A status written as a plain string is read back as the enum member."""
    with session_scope(store_engine) as session:
        session.add(Conflict(pipeline="p", record_key="C-1", kind="manual_rule", status="resolved"))  # type: ignore[arg-type]

    with session_scope(store_engine) as session:
        conflict = session.exec(select(Conflict)).one()

    assert conflict.status is ConflictStatus.RESOLVED


def test_unknown_enum_value_is_refused(store_engine: sa.Engine) -> None:
    """A status outside the enum is refused before it reaches the database."""
    with (
        pytest.raises(StatementError, match="'sideways' is not a valid Side"),
        session_scope(store_engine) as session,
    ):
        session.add(Cursor(pipeline="p", stream="customers", side="sideways", value=None))  # type: ignore[arg-type]


def test_json_dict_tracks_in_place_changes(store_engine: sa.Engine) -> None:
    """Changing one key of ``field_hashes`` in place is saved on commit."""
    with session_scope(store_engine) as session:
        session.add(_link(field_hashes={"email": "aa"}))
    with session_scope(store_engine) as session:
        link = session.exec(select(Link)).one()
        link.field_hashes["phone"] = "bb"

    with session_scope(store_engine) as session:
        link = session.exec(select(Link)).one()

    assert link.field_hashes == {"email": "aa", "phone": "bb"}


def test_cursor_value_round_trips_json(store_engine: sa.Engine) -> None:
    """A cursor's JSON value comes back equal (nested objects, lists, numbers)."""
    value = {"watermark": "2026-03-01T12:00:00Z", "continuationToken": None, "seen": ["a", 1]}
    with session_scope(store_engine) as session:
        session.add(Cursor(pipeline="p", stream="customers", side=Side.B2CONNECT, value=value))

    with session_scope(store_engine) as session:
        assert session.exec(select(Cursor.value)).one() == value


def test_bytes_and_booleans_round_trip(store_engine: sa.Engine) -> None:
    """A wrapped key (bytes) and the legal-hold flag come back unchanged."""
    key = bytes(range(256))
    with session_scope(store_engine) as session:
        session.add(SubjectKey(subject_hash="aa" * 32, wrapped_key=key, legal_hold=True))

    with session_scope(store_engine) as session:
        row = session.get(SubjectKey, "aa" * 32)

    assert row is not None
    assert (row.wrapped_key, row.legal_hold) == (key, True)
