"""Search by subject and time, exports, and the retention purge."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from audit import (
    Filters,
    KeyRing,
    purge_older_than,
    search,
    set_legal_hold,
    to_csv,
    to_json,
    verify,
)
from tests.audit.conftest import T0, Append, write_event


def test_search_by_subject_email_is_normalised(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """Searching ' ADA@example.com' finds ada's events only, values decrypted."""
    append(
        [
            write_event("ada@example.com"),
            write_event("bob@example.com"),
            write_event("ada@example.com", minutes=2),
        ]
    )
    with store_engine.connect() as conn:
        views = search(conn, keys, Filters(subject=" ADA@example.com"))
    assert [v.subject for v in views] == ["ada@example.com"] * 2
    assert views[0].values == {
        "email": {"old": None, "new": "ada@example.com"},
        "firstName": {"old": "A", "new": "Ada"},
    }


def test_search_by_customer_id(append: Append, store_engine: sa.Engine, keys: KeyRing) -> None:
    """A customer id is a subject too."""
    append([write_event("CUST-1"), write_event("CUST-2")])
    with store_engine.connect() as conn:
        views = search(conn, keys, Filters(subject="CUST-2"))
    assert [v.subject for v in views] == ["CUST-2"]


def test_search_by_time_range(append: Append, store_engine: sa.Engine, keys: KeyRing) -> None:
    """since is inclusive, until exclusive."""
    append([write_event(minutes=m) for m in range(6)])
    with store_engine.connect() as conn:
        views = search(
            conn,
            keys,
            Filters(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4)),
        )
    assert [v.occurred_at for v in views] == [T0 + timedelta(minutes=m) for m in (2, 3)]


def test_search_by_pipeline_and_system(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """pipeline matches the actor; system matches source or target."""
    append([write_event()])
    with store_engine.connect() as conn:
        assert (
            len(search(conn, keys, Filters(pipeline="customers-to-hubspot", system="hubspot"))) == 1
        )
        assert search(conn, keys, Filters(system="salesforce")) == []


def test_csv_export_parses_back(append: Append, store_engine: sa.Engine, keys: KeyRing) -> None:
    """Every exported row parses back with the same values, quotes and commas included."""
    append([write_event('o"brien, jr@example.com'), write_event(minutes=1)])
    with store_engine.connect() as conn:
        views = search(conn, keys, Filters())
    rows = list(csv.DictReader(io.StringIO(to_csv(views))))
    assert [r["subject"] for r in rows] == [v.subject for v in views]
    assert [json.loads(r["values"]) for r in rows] == [v.values for v in views]
    assert [int(r["seq"]) for r in rows] == [1, 2]


def test_json_export_parses_back(append: Append, store_engine: sa.Engine, keys: KeyRing) -> None:
    """The JSON export is an array of the events."""
    append([write_event()])
    with store_engine.connect() as conn:
        views = search(conn, keys, Filters())
    assert json.loads(to_json(views)) == [v.as_dict() for v in views]


def test_purge_keeps_held_subjects_and_chain_verifies(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """Old events go, held subjects' stay, and the remaining chain still verifies."""
    append([write_event(f"p{d}@example.com", minutes=d * 24 * 60) for d in range(5)])
    with store_engine.begin() as conn:
        set_legal_hold(conn, keys, "p1@example.com")
        deleted = purge_older_than(conn, 2, keys=keys, now=T0 + timedelta(days=4, hours=1))
    with store_engine.connect() as conn:
        left = [v.subject for v in search(conn, keys, Filters())]
        assert verify(conn, keys=keys).ok
    assert deleted == 2
    assert left == ["p1@example.com", "p3@example.com", "p4@example.com"]


def test_purge_then_append_verifies(append: Append, store_engine: sa.Engine, keys: KeyRing) -> None:
    """Purging everything keeps the head, so new events extend a valid chain."""
    append([write_event(minutes=m) for m in range(3)])
    with store_engine.begin() as conn:
        purge_older_than(conn, 1, keys=keys, now=T0 + timedelta(days=30))
    append([write_event(minutes=5)])
    with store_engine.connect() as conn:
        assert verify(conn, keys=keys).ok
        assert [v.seq for v in search(conn, keys, Filters())] == [3, 4]


def test_second_purge_with_longer_retention_verifies(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """A later purge keeping more days never moves the purge boundary back."""
    append([write_event(f"p{d}@example.com", minutes=d * 24 * 60) for d in range(5)])
    now = T0 + timedelta(days=4, hours=1)
    with store_engine.begin() as conn:
        set_legal_hold(conn, keys, "p1@example.com")
        purge_older_than(conn, 1, keys=keys, now=now)
        assert purge_older_than(conn, 10, keys=keys, now=now) == 0
    with store_engine.connect() as conn:
        assert verify(conn, keys=keys).ok


def test_search_by_email_finds_the_customer_keyed_events(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """Events keyed by customer id carry the email's keyed hash as an alias: a search by the
    email (any case) finds them, twice-recorded aliases do not duplicate, and the alias table
    holds hashes only."""
    from dataclasses import replace

    from audit.events import aliases_table

    ada = [
        replace(write_event("C-7", minutes=m, key="C-7"), email="Ada@Example.com") for m in (0, 1)
    ]
    append(ada)
    append([replace(write_event("C-7", minutes=2, key="C-7"), email="ada@example.com")])
    append([write_event("C-8", minutes=3, key="C-8")])
    with store_engine.connect() as conn:
        by_email = search(conn, keys, Filters(subject=" ADA@example.com "))
        by_id = search(conn, keys, Filters(subject="C-7"))
        aliases = conn.execute(sa.select(aliases_table)).all()
    assert [v.seq for v in by_email] == [v.seq for v in by_id] == [1, 2, 3]
    assert len(aliases) == 1
    assert "example.com" not in repr(aliases).lower()


def test_shred_and_hold_by_email_reach_the_customer_key(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """`audit hold`/`shred --subject EMAIL` act on the customer-keyed events that recorded the
    email: a hold blocks the shred; once lifted, shredding by email erases their values."""
    from dataclasses import replace

    from audit import LegalHoldError, shred

    append([replace(write_event("C-7", key="C-7"), email="ada@example.com")])
    with store_engine.begin() as conn:
        set_legal_hold(conn, keys, "ADA@example.com")
    with pytest.raises(LegalHoldError), store_engine.begin() as conn:
        shred(conn, keys, "ada@example.com")
    with store_engine.begin() as conn:
        set_legal_hold(conn, keys, "ada@example.com", on=False)
    with store_engine.begin() as conn:
        assert shred(conn, keys, "ada@example.com")
    with store_engine.connect() as conn:
        [view] = search(conn, KeyRing(bytes(range(32))), Filters(subject="C-7"))
    assert view.values == "[erased]"
