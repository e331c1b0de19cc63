"""HubSpot CRM search is eventually consistent: a write shows in search results only some
seconds later, and not every write takes equally long ("Search the CRM",
https://developers.hubspot.com/docs/api/crm/search). An edit indexed after a later edit must
still be pulled: the reader re-reads ``search_overlap_s`` (default 60 s) before its mark and
drops what it has already seen. Driven through hubspot-api-client against the emulator's
lagging index (``POST /_emulator/search_lag``), on a fake clock shared with the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from connectors.hubspot import HubSpotConnector
from connectors.records import Page
from emulators.hubspot import HubSpotEmulator
from mapping.config import HubSpotConnection
from tests.connectors.hubspot_support import FakeClock

pytestmark = [pytest.mark.fidelity_hubspot, pytest.mark.emulator_only]

#: how long the late edit takes to reach the index (the docs say "a few moments")
SLOW_INDEX_S = 5.0


def _lag(emu: HubSpotEmulator, seconds: float) -> None:
    answer = requests.post(f"{emu.url}/_emulator/search_lag", json={"seconds": seconds}, timeout=5)
    answer.raise_for_status()


def _read(conn: HubSpotConnector, cursor: Any) -> tuple[dict[str, str | None], Any]:
    """One pull: firstname by contact id, and the cursor to resume after it."""
    pages: list[Page] = list(conn.read_changes("contacts", cursor))
    seen = {r.key: r.fields.get("firstname") for p in pages for r in p.records}
    return seen, pages[-1].cursor


class _Portal:
    """An emulated portal with two contacts, a connector on the same fake clock, and the
    cursor after a first full pull."""

    def __init__(self, emu: HubSpotEmulator, clock: FakeClock, conn: HubSpotConnector) -> None:
        self.emu, self.clock, self.conn = emu, clock, conn
        self.late = emu.admin_create("contacts", {"email": "late@example.com", "firstname": "A0"})
        self.prompt = emu.admin_create(
            "contacts", {"email": "prompt@example.com", "firstname": "B0"}
        )
        clock.advance(1)
        first, self.cursor = _read(conn, None)
        assert set(first) == {self.late["id"], self.prompt["id"]}

    def edits_indexed_out_of_order(self) -> dict[str, str | None]:
        """Edit ``late`` (slow to index), then ``prompt`` 3 s later (indexed at once), and
        pull just after: only ``prompt`` is visible yet. Returns that pull."""
        self.clock.advance(10)
        _lag(self.emu, SLOW_INDEX_S)
        self.emu.admin_patch("contacts", self.late["id"], {"firstname": "Late"})
        _lag(self.emu, 0)
        self.clock.advance(3)
        self.emu.admin_patch("contacts", self.prompt["id"], {"firstname": "Prompt"})
        self.clock.advance(0.5)
        seen, self.cursor = _read(self.conn, self.cursor)
        return seen

    def next_run(self) -> dict[str, str | None]:
        """The next scheduled pull, once the slow edit has reached the index."""
        self.clock.advance(SLOW_INDEX_S)
        seen, self.cursor = _read(self.conn, self.cursor)
        return seen


@pytest.fixture
def portal(
    hubspot_emulator_factory: Callable[..., HubSpotEmulator],
) -> Iterator[Callable[..., _Portal]]:
    conns: list[HubSpotConnector] = []

    def make(**config: Any) -> _Portal:
        clock = FakeClock()
        emu = hubspot_emulator_factory(clock=clock)
        settings = HubSpotConnection(type="hubspot", url=emu.url, token="${HS_TOKEN}", **config)
        conn = HubSpotConnector.from_config(
            settings,
            secrets=lambda v: emu.token if v == "${HS_TOKEN}" else v,
            clock=clock,
            waiter=clock.wait,
            read_properties={"contacts": ["firstname"]},
        )
        conns.append(conn)
        return _Portal(emu, clock, conn)

    yield make
    for conn in conns:
        conn.close()


def test_an_edit_indexed_late_is_pulled_by_the_next_run(portal: Callable[..., _Portal]) -> None:
    """With the default window an edit made just before a pull, but indexed after it and
    after a later edit, is pulled by the next run."""
    hub = portal()
    assert hub.edits_indexed_out_of_order() == {hub.prompt["id"]: "Prompt"}
    assert hub.next_run() == {hub.late["id"]: "Late"}


def test_the_re_read_window_does_not_repeat_records(portal: Callable[..., _Portal]) -> None:
    """Records re-read inside the window are dropped: a quiet run pulls nothing."""
    hub = portal()
    hub.edits_indexed_out_of_order()
    hub.next_run()
    assert hub.next_run() == {}


def test_a_two_second_window_would_skip_the_late_edit(portal: Callable[..., _Portal]) -> None:
    """The old 2 s re-read misses it for good: the emulator's lag bites like production."""
    hub = portal(search_overlap_s=2)
    hub.edits_indexed_out_of_order()
    assert hub.next_run() == {}
    assert hub.emu.admin_get("contacts", hub.late["id"])["properties"]["firstname"] == "Late"


def test_the_window_defaults_well_above_the_documented_lag() -> None:
    """search_overlap_s defaults to 60 s (HubSpot: "a few moments")."""
    settings = HubSpotConnection(type="hubspot", token="${HS_TOKEN}")
    assert settings.search_overlap_s == 60.0
