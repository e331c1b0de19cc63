"""HubSpot change reads and lookups end to end, on an emulator driven by a fake clock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.hubspot import HubSpotConnector
from connectors.records import Page, Record, WriteItem
from emulators.hubspot import HubSpotEmulator
from tests.connectors.hubspot_support import (
    FakeClock,
    admin_create,
    admin_patch,
    calls,
    connector,
)

SEARCH = "POST /crm/v3/objects/{object_type}/search"

Factory = Callable[..., HubSpotEmulator]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(hubspot_emulator_factory: Factory, clock: FakeClock) -> HubSpotEmulator:
    return hubspot_emulator_factory(clock=clock)


@pytest.fixture
def conn(emu: HubSpotEmulator, clock: FakeClock) -> Iterator[HubSpotConnector]:
    made = connector(
        emu,
        clock=clock,
        waiter=clock.wait,
        read_properties={"contacts": ["email", "firstname"]},
        search_per_second=1000,
    )
    yield made
    made.close()


def _read(conn: HubSpotConnector, stream: str, cursor: dict[str, Any] | None) -> list[Page]:
    pages = list(conn.read_changes(stream, cursor))
    assert pages and not pages[-1].has_more
    assert all(p.has_more for p in pages[:-1])
    return pages


def _records(pages: list[Page]) -> list[Record]:
    return [r for p in pages for r in p.records]


def _seed(conn: HubSpotConnector, clock: FakeClock, n: int) -> list[str]:
    ids = []
    for i in range(n):
        [result] = conn.write("contacts", [WriteItem(f"c-{i}", {"email": f"p{i}@example.com"})])
        assert result.crm_id is not None
        ids.append(result.crm_id)
        clock.advance(0.5)
    return ids


def test_first_read_returns_everything_with_a_json_cursor(
    conn: HubSpotConnector, clock: FakeClock
) -> None:
    """A read without cursor returns every contact, ascending, with a JSON-safe cursor."""
    ids = _seed(conn, clock, 3)
    pages = _read(conn, "contacts", None)
    records = _records(pages)
    assert [r.key for r in records] == ids
    assert records[0].fields["email"] == "p0@example.com"
    assert records[0].stream == "contacts" and records[0].updated_at is not None
    cursor = pages[-1].cursor
    assert json.loads(json.dumps(cursor)) == cursor


def test_admin_edit_after_a_read_is_picked_up_and_ties_are_not_repeated(
    conn: HubSpotConnector, emu: HubSpotEmulator, clock: FakeClock
) -> None:
    """The next read returns only the record edited in HubSpot since, not the overlap's ones."""
    ids = _seed(conn, clock, 3)
    cursor = _read(conn, "contacts", None)[-1].cursor
    clock.advance(1.0)
    admin_patch(emu, "contacts", ids[0], {"firstname": "Edited"})
    clock.advance(1.0)
    records = _records(_read(conn, "contacts", cursor))
    assert [(r.key, r.fields["firstname"]) for r in records] == [(ids[0], "Edited")]


def test_unchanged_portal_reads_nothing_new(conn: HubSpotConnector, clock: FakeClock) -> None:
    """Reading again with the last cursor yields no records (overlap de-duplicated)."""
    _seed(conn, clock, 4)
    cursor = _read(conn, "contacts", None)[-1].cursor
    clock.advance(0.5)
    again = _read(conn, "contacts", cursor)
    assert _records(again) == []
    last = again[-1].cursor
    assert last is not None and cursor is not None and last["ts"] == cursor["ts"]


def test_records_sharing_a_timestamp_are_each_read_once(
    conn: HubSpotConnector, emu: HubSpotEmulator, clock: FakeClock
) -> None:
    """Records modified in the same millisecond are de-duplicated by id across reads."""
    first = [admin_create(emu, "contacts", {"email": f"t{i}@example.com"})["id"] for i in range(3)]
    cursor = _read(conn, "contacts", None)[-1].cursor
    assert cursor is not None and sorted(cursor["ids"]) == sorted(first)
    late = admin_create(emu, "contacts", {"email": "late@example.com"})["id"]  # same instant
    records = _records(_read(conn, "contacts", cursor))
    assert [r.key for r in records] == [late]


def test_a_read_does_not_go_past_its_start(
    conn: HubSpotConnector, emu: HubSpotEmulator, clock: FakeClock
) -> None:
    """A change made while a read pages waits for the next read."""
    ids = [admin_create(emu, "contacts", {"email": f"s{i}@example.com"})["id"] for i in range(250)]
    clock.advance(1.0)
    pages = conn.read_changes("contacts", None)
    first = next(pages)
    assert first.has_more and ids[0] in [r.key for r in first.records]
    clock.advance(1.0)
    admin_patch(emu, "contacts", ids[0], {"firstname": "During"})
    rest = list(pages)
    assert ids[0] not in [r.key for p in rest for r in p.records]
    records = _records(_read(conn, "contacts", rest[-1].cursor))
    assert [(r.key, r.fields["firstname"]) for r in records] == [(ids[0], "During")]


def test_many_changes_page_by_timestamp(
    conn: HubSpotConnector, emu: HubSpotEmulator, clock: FakeClock
) -> None:
    """450 changes arrive over several 200-record searches, each exactly once."""
    made = []
    for i in range(450):
        made.append(admin_create(emu, "contacts", {"email": f"m{i}@example.com"})["id"])
        clock.advance(0.001 if i % 3 else 0.0)
    records = _records(_read(conn, "contacts", None))
    assert sorted(r.key for r in records) == sorted(made)
    assert len(records) == 450
    assert calls(emu)[SEARCH] >= 3


def test_archived_records_come_back_as_deletes(
    conn: HubSpotConnector, emu: HubSpotEmulator, clock: FakeClock
) -> None:
    """A record archived after the last read is emitted once with deleted=True."""
    ids = _seed(conn, clock, 2)
    cursor = _read(conn, "contacts", None)[-1].cursor
    clock.advance(1.0)
    assert conn.delete("contacts", ["c-1", "c-missing"])[0].crm_id == ids[1]
    clock.advance(1.0)
    pages = _read(conn, "contacts", cursor)
    deleted = [r for r in _records(pages) if r.deleted]
    assert [r.key for r in deleted] == [ids[1]]
    clock.advance(1.0)
    assert [r for r in _records(_read(conn, "contacts", pages[-1].cursor)) if r.deleted] == []


def test_lookup_by_email_is_case_insensitive(conn: HubSpotConnector, emu: HubSpotEmulator) -> None:
    """Pre-existing contacts are found by email whatever the case; keys are lower-cased."""
    made = admin_create(emu, "contacts", {"email": "ann@example.com"})["id"]
    found = conn.lookup("contacts", "email", ["ANN@Example.com", "nobody@example.com"])
    assert found == {"ann@example.com": [made], "nobody@example.com": []}
    assert calls(emu) == {"POST /crm/v3/objects/{object_type}/batch/read": 1}


def test_lookup_by_other_field_returns_all_candidates(
    conn: HubSpotConnector, emu: HubSpotEmulator
) -> None:
    """Two companies with the same domain are both returned (the engine sees the ambiguity)."""
    a = admin_create(emu, "companies", {"name": "A", "domain": "acme.example"})["id"]
    b = admin_create(emu, "companies", {"name": "B", "domain": "acme.example"})["id"]
    found = conn.lookup("companies", "domain", ["acme.example", "none.example"])
    assert found == {"acme.example": sorted([a, b], key=int), "none.example": []}
    assert calls(emu) == {SEARCH: 1}


def test_describe_reports_types_and_uniqueness(conn: HubSpotConnector) -> None:
    """describe() lists properties with their type, read-only flag and text limit."""
    schema = conn.describe("contacts")
    assert schema.fields["email"].type == "string" and schema.length_of("email") == 65_536
    assert schema.fields["lastmodifieddate"].updateable is False
    assert schema.fields["hs_object_id"].type == "number"
