"""HubSpot change reads past search's 10,000-result ceiling, on the emulator."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from connectors.hubspot import HubSpotConnector
from connectors.records import Page
from emulators.hubspot import HubSpotEmulator
from tests.connectors.hubspot_support import FakeClock, calls, connector

SEARCH = "POST /crm/v3/objects/{object_type}/search"
MANY = 10_250


@dataclass
class BigWindow:
    """One emulator seeded with more changes than search can page through, read once."""

    emu: HubSpotEmulator
    conn: HubSpotConnector
    clock: FakeClock
    made: set[str]
    pages: list[Page]
    searches: int


def _seed(emu: HubSpotEmulator, clock: FakeClock, n: int, prefix: str) -> set[str]:
    """``n`` contacts created as CRM users would (in-process: fast), 1 ms apart."""
    made = set()
    for i in range(n):
        made.add(emu.admin_create("contacts", {"email": f"{prefix}{i}@example.com"})["id"])
        clock.advance(0.001)
    return made


@pytest.fixture(scope="module")
def big() -> Iterator[BigWindow]:
    clock = FakeClock()
    emu = HubSpotEmulator(clock=clock)
    emu.start()
    # a 2 s re-read window: with the default 60 s one, a burst of more than the cursor's
    # 5,000 remembered ids inside the window is re-delivered once (sync drops it by hash)
    conn = connector(
        emu, clock=clock, waiter=clock.wait, read_properties={"contacts": ["email"]}, overlap_s=2
    )
    try:
        made = _seed(emu, clock, MANY, "w")
        clock.advance(5)
        pages = list(conn.read_changes("contacts", None))
        yield BigWindow(emu, conn, clock, made, pages, calls(emu)[SEARCH])
    finally:
        conn.close()
        emu.stop()


def test_a_window_of_more_than_10000_changes_is_read_whole(big: BigWindow) -> None:
    """10,250 changes in one read: every record exactly once."""
    keys = [r.key for p in big.pages for r in p.records]
    assert len(keys) == MANY
    assert set(keys) == big.made


def test_the_big_window_costs_about_the_minimum_of_searches(big: BigWindow) -> None:
    """Pages of 200, split by timestamp: ceil(n/199)+1 searches at most (minimum ceil(n/200))."""
    assert math.ceil(MANY / 200) <= big.searches <= math.ceil(MANY / 199) + 1


def test_pages_are_ascending_and_keep_the_search_rate_limit(big: BigWindow) -> None:
    """Pages of at most 200 in ascending time; the governor waited instead of meeting a 429."""
    stamps = [r.updated_at for p in big.pages for r in p.records]
    assert stamps == sorted(stamps)
    assert max(len(p.records) for p in big.pages) <= 200
    assert big.clock.waits, "50 searches in one second must wait for the search limit"
    assert all(p.has_more for p in big.pages[:-1]) and not big.pages[-1].has_more


def test_the_cursor_resumes_after_a_big_window_without_repeats(big: BigWindow) -> None:
    """After the 10,250-change read, the next read brings only the changes made since."""
    later = _seed(big.emu, big.clock, 3, "later")
    big.clock.advance(5)
    again = [
        r.key for p in big.conn.read_changes("contacts", big.pages[-1].cursor) for r in p.records
    ]
    assert set(again) == later
