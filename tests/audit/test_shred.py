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
