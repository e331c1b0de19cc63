"""Crypto-shredding and legal hold."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audit import ERASED, Filters, KeyRing, LegalHoldError, search, set_legal_hold, shred, verify
from tests.audit.conftest import MASTER_KEY, Append, write_event


def _shred(engine: sa.Engine, keys: KeyRing, subject: str) -> bool:
    with engine.begin() as conn:
        return shred(conn, keys, subject)


def test_shredded_subject_events_remain_and_read_erased(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """After shredding, the events stay, the chain verifies and values read [erased]."""
    append([write_event("ada@example.com"), write_event("bob@example.com", minutes=1)])
    assert _shred(store_engine, keys, " Ada@Example.com ")
    fresh = KeyRing(MASTER_KEY)  # another process, no cached key
    with store_engine.connect() as conn:
        ada = search(conn, fresh, Filters(subject="ada@example.com"))
        bob = search(conn, fresh, Filters(subject="bob@example.com"))
        assert verify(conn, keys=keys).ok
    assert [(v.values, v.subject, v.record_key) for v in ada] == [(ERASED, ERASED, ERASED)]
    assert ada[0].changed_fields == ["email", "firstName"]
    assert bob[0].values is not None and bob[0].values != ERASED


def test_shredding_clears_the_cache_of_this_process(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """The process that shreds can no longer read the values either."""
    append([write_event()])
    _shred(store_engine, keys, "ada@example.com")
    with store_engine.connect() as conn:
        (view,) = search(conn, keys, Filters(subject="ada@example.com"))
    assert view.values == ERASED


def test_events_after_shredding_carry_no_values(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """A later event about an erased subject never re-creates a key."""
    _shred(store_engine, keys, "ada@example.com")
    append([write_event(action="erasure.step")])
    with store_engine.connect() as conn:
        (view,) = search(conn, keys, Filters(subject="ada@example.com"))
        assert verify(conn, keys=keys).ok
    assert view.values == ERASED


def test_legal_hold_blocks_shredding(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """Shredding a subject under legal hold is refused and the values stay readable."""
    append([write_event()])
    with store_engine.begin() as conn:
        set_legal_hold(conn, keys, "ada@example.com")
    with pytest.raises(LegalHoldError, match="legal hold"):
        _shred(store_engine, keys, "ada@example.com")
    with store_engine.connect() as conn:
        (view,) = search(conn, keys, Filters(subject="ada@example.com"))
    assert view.values != ERASED


def test_lifted_hold_allows_shredding(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """Once the hold is lifted, shredding works."""
    with store_engine.begin() as conn:
        set_legal_hold(conn, keys, "ada@example.com")
        set_legal_hold(conn, keys, "ada@example.com", on=False)
    assert _shred(store_engine, keys, "ada@example.com")


def test_prepared_events_of_a_subject_shredded_meanwhile_carry_no_values(
    store_engine: sa.Engine, keys: KeyRing
) -> None:
    """Events encrypted before the write transaction, whose subject is erased before they are
    chained, are stored without values, as if all had happened under the lock."""
    from audit import prepare_events, record_prepared

    with store_engine.connect() as conn:
        prepared = prepare_events(conn, [write_event()], keys=keys)
    _shred(store_engine, keys, "ada@example.com")
    with store_engine.begin() as conn:
        assert record_prepared(conn, prepared) == 1
    fresh = KeyRing(MASTER_KEY)
    with store_engine.connect() as conn:
        (view,) = search(conn, fresh, Filters(subject="ada@example.com"))
        assert verify(conn, keys=keys).ok
    assert view.values == ERASED


def test_prepared_events_use_the_key_another_writer_created_meanwhile(
    store_engine: sa.Engine, keys: KeyRing
) -> None:
    """Two writers prepare events of a new subject; the second one chains its events under
    the key the first one stored, so both stay readable (one key per subject)."""
    from audit import prepare_events, record_prepared

    with store_engine.connect() as conn:
        first = prepare_events(conn, [write_event()], keys=keys)
        second = prepare_events(conn, [write_event(minutes=1)], keys=KeyRing(MASTER_KEY))
    with store_engine.begin() as conn:
        record_prepared(conn, first)
    with store_engine.begin() as conn:
        record_prepared(conn, second)
    fresh = KeyRing(MASTER_KEY)
    with store_engine.connect() as conn:
        views = search(conn, fresh, Filters(subject="ada@example.com"))
        assert verify(conn, keys=keys).ok
        stored = conn.execute(sa.text("SELECT count(*) FROM subject_keys")).scalar()
    assert len(views) == 2 and all(v.values not in (None, ERASED) for v in views)
    assert stored == 1
