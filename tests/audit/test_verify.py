"""verify: an intact chain passes; edits, deletions, swaps and truncation are named."""

from __future__ import annotations

import sqlalchemy as sa

from audit import KeyRing, anchor, events_table, verify
from tests.audit.conftest import Append, write_event


def _five(append: Append) -> None:
    append([write_event(f"p{i}@example.com", minutes=i) for i in range(5)])


def test_intact_chain_verifies(append: Append, store_engine: sa.Engine, keys: KeyRing) -> None:
    """A chain nobody touched passes, and every event is counted."""
    _five(append)
    with store_engine.connect() as conn:
        report = verify(conn, keys=keys)
    assert report.ok
    assert report.checked == {"t1": 5}


def test_edited_event_is_named(append: Append, store_engine: sa.Engine, keys: KeyRing) -> None:
    """Changing a stored column of event 3 is reported as altered at seq 3."""
    _five(append)
    with store_engine.begin() as conn:
        conn.execute(events_table.update().where(events_table.c.seq == 3).values(outcome="failed"))
    with store_engine.connect() as conn:
        (problem,) = verify(conn, keys=keys).problems
    assert (problem.seq, problem.kind) == (3, "altered")


def test_rehashed_edit_is_named(append: Append, store_engine: sa.Engine, keys: KeyRing) -> None:
    """An edit whose hash was recomputed still breaks the link from the next event."""
    _five(append)
    with store_engine.begin() as conn:
        conn.execute(events_table.update().where(events_table.c.seq == 2).values(hash="f" * 64))
    with store_engine.connect() as conn:
        (problem,) = verify(conn, keys=keys).problems
    assert (problem.seq, problem.kind) == (2, "altered")


def test_deleted_event_is_named(append: Append, store_engine: sa.Engine, keys: KeyRing) -> None:
    """Deleting event 2 is reported as removed at seq 2."""
    _five(append)
    with store_engine.begin() as conn:
        conn.execute(events_table.delete().where(events_table.c.seq == 2))
    with store_engine.connect() as conn:
        (problem,) = verify(conn, keys=keys).problems
    assert (problem.seq, problem.kind) == (2, "removed")


def test_swapped_events_are_named(append: Append, store_engine: sa.Engine, keys: KeyRing) -> None:
    """Swapping the positions of events 3 and 4 is reported as reordered at seq 3."""
    _five(append)
    with store_engine.begin() as conn:
        for old, new in ((3, -1), (4, 3), (-1, 4)):
            conn.execute(events_table.update().where(events_table.c.seq == old).values(seq=new))
    with store_engine.connect() as conn:
        (problem,) = verify(conn, keys=keys).problems
    assert (problem.seq, problem.kind) == (3, "reordered")


def test_truncated_tail_is_caught_after_anchoring(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """Deleting the newest events after an anchor is reported as truncated."""
    _five(append)
    with store_engine.begin() as conn:
        assert anchor(conn, keys=keys)["t1"][0] == 5
        conn.execute(events_table.delete().where(events_table.c.seq >= 4))
    with store_engine.connect() as conn:
        (problem,) = verify(conn, keys=keys).problems
    assert (problem.seq, problem.kind) == (4, "truncated")


def test_anchored_chain_growing_further_verifies(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """Events appended after an anchor keep the chain valid."""
    _five(append)
    with store_engine.begin() as conn:
        anchor(conn, keys=keys)
    _five(append)
    with store_engine.connect() as conn:
        assert verify(conn, keys=keys).ok


def test_whole_chain_deleted_after_anchoring(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """An anchored tenant whose every event is gone is reported as truncated from event 1."""
    _five(append)
    with store_engine.begin() as conn:
        anchor(conn, keys=keys)
        conn.execute(events_table.delete())
    with store_engine.connect() as conn:
        (problem,) = verify(conn, keys=keys).problems
    assert (problem.tenant_id, problem.seq, problem.kind) == ("t1", 1, "truncated")


def test_verify_one_tenant_only(append: Append, store_engine: sa.Engine, keys: KeyRing) -> None:
    """verify(tenant_id=...) checks that chain alone."""
    append([write_event(tenant="a"), write_event(tenant="b")])
    with store_engine.connect() as conn:
        assert verify(conn, "a", keys=keys).checked == {"a": 1}
