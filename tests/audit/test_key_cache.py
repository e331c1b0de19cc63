"""The key ring's cache of unwrapped data keys has a fixed size (issue 18: peak RSS flat from
10k to 100k customers): a backfill of N people no longer keeps N keys alive, and a search
over more subjects than the cache holds still decrypts every event."""

from __future__ import annotations

import sqlalchemy as sa

from audit import Filters, KeyRing, record_events, search
from tests.audit.conftest import MASTER_KEY, write_event

CACHE = 20


def _append_twice(engine: sa.Engine, keys: KeyRing, people: int) -> None:
    """Each person's event in flushes of CACHE, twice (a create, then an update: the second
    flush of a person unwraps the key the first one stored), as two pipelines would."""
    immediate = engine.execution_options(b2sync_begin_immediate=True)
    for minutes in (0, 1):
        for start in range(0, people, CACHE):
            events = [
                write_event(f"p{n}@example.org", minutes=minutes, key=f"C-{n}")
                for n in range(start, min(people, start + CACHE))
            ]
            with immediate.begin() as conn:
                record_events(conn, events, keys=keys)


def test_cached_keys_do_not_grow_with_the_people(store_engine: sa.Engine) -> None:
    """CACHE people and 4 x CACHE people leave the same number of keys in the ring."""
    small, large = KeyRing(MASTER_KEY, cache_size=CACHE), KeyRing(MASTER_KEY, cache_size=CACHE)
    _append_twice(store_engine, small, CACHE)
    _append_twice(store_engine, large, 4 * CACHE)  # p0..p19 again, then 60 new people
    assert small.cached_keys == CACHE
    assert large.cached_keys == CACHE


def test_search_beyond_the_cache_decrypts_every_event(store_engine: sa.Engine) -> None:
    """A search over 4 x CACHE subjects (a fresh process's ring) reads every value, none
    shown as erased because its key left the cache while the page was being read."""
    _append_twice(store_engine, KeyRing(MASTER_KEY, cache_size=CACHE), 4 * CACHE)
    fresh = KeyRing(MASTER_KEY, cache_size=CACHE)
    with store_engine.connect() as conn:
        views = search(conn, fresh, Filters())
    assert len(views) == 2 * 4 * CACHE
    assert {v.subject for v in views} == {f"p{n}@example.org" for n in range(4 * CACHE)}
    assert all(v.values and v.values["email"]["new"] == v.subject for v in views)
    assert fresh.cached_keys == CACHE
