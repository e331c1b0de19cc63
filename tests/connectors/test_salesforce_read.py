"""Reads, lookups, describe, delete and erase of SalesforceConnector through the emulator.

These tests run their own emulator whose clock they set, so SystemModstamp values are exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.records import Page, Subject
from connectors.salesforce import SalesforceConnector
from emulators.salesforce import SalesforceEmulator
from tests.connectors.salesforce_support import Connectors, contacts

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
QUERY = "GET /services/data/{version}/query"


class Clock:
    """One settable time for both the emulator (epoch) and the connector (datetime)."""

    def __init__(self) -> None:
        self.now = T0

    def epoch(self) -> float:
        return self.now.timestamp()

    def __call__(self) -> dt.datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def module_clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def server(module_clock: Clock) -> Iterator[SalesforceEmulator]:
    emu = SalesforceEmulator(clock=module_clock.epoch, query_batch_size=2)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def clock(module_clock: Clock) -> Clock:
    module_clock.now = T0
    return module_clock


@pytest.fixture
def emu(server: SalesforceEmulator, clock: Clock) -> SalesforceEmulator:
    server.reset()
    return server


@pytest.fixture
def conn(emu: SalesforceEmulator, clock: Clock) -> Iterator[SalesforceConnector]:
    made = Connectors(emu)
    yield made(clock=clock)
    made.close()


def _read(conn: SalesforceConnector, cursor: dict[str, Any] | None, **kw: Any) -> list[Page]:
    return list(conn.read_changes("Contact", cursor, **kw))


def _keys(pages: list[Page]) -> list[str]:
    return [str(r.fields["B2Connect_Id__c"]) for p in pages for r in p.records]


# ---- lookup


def test_lookup_returns_every_candidate(emu: SalesforceEmulator, conn: SalesforceConnector) -> None:
    """An email held by two contacts comes back with both ids, keyed lower-cased."""
    first = emu.admin_create("Contact", {"LastName": "A", "Email": "dup@example.com"})
    second = emu.admin_create("Contact", {"LastName": "B", "Email": "DUP@example.com"})
    found = conn.lookup("Contact", "Email", ["Dup@Example.com", "none@example.com"])
    assert sorted(found["dup@example.com"]) == sorted([first["Id"], second["Id"]])
    assert found["none@example.com"] == []


def test_lookup_chunks_long_value_lists(salesforce_emulator: SalesforceEmulator) -> None:
    """Hundreds of keys are looked up in several queries and all are found."""
    made = Connectors(salesforce_emulator)  # the shared emulator: 2,000 rows per query page
    conn = made()
    written = conn.write("Contact", contacts(300, prefix="key-with-some-length-"))
    keys = [r.key for r in written] + [f"missing-{i}" for i in range(300)]
    found = conn.lookup("Contact", "B2Connect_Id__c", keys)
    assert all(found[r.key] == [r.crm_id] for r in written)
    assert all(found[f"missing-{i}"] == [] for i in range(300))
    assert conn.calls[QUERY] >= 2
    made.close()


# ---- read_changes


def test_first_read_returns_everything_page_by_page(
    conn: SalesforceConnector, clock: Clock
) -> None:
    """Without a cursor every record comes back, in pages that say whether more follow."""
    for i in range(5):
        conn.write("Contact", contacts(1, prefix=f"p{i}-"))
        clock.tick()
    pages = _read(conn, None)
    assert [p.has_more for p in pages] == [True, True, False]
    assert _keys(pages) == [f"p{i}-0" for i in range(5)]
    assert pages[-1].cursor == {
        "ts": "2026-11-25T09:00:04.000Z",
        "ids": [pages[-1].records[-1].key],
    }


def test_incremental_read_brings_updates_and_deletes(
    emu: SalesforceEmulator, conn: SalesforceConnector, clock: Clock
) -> None:
    """After the cursor: a CRM user's edit (with modified_by) and a deletion (deleted=True)."""
    written = conn.write("Contact", contacts(3))
    cursor = _read(conn, None)[-1].cursor
    clock.tick(10)
    emu.admin_patch("Contact", str(written[0].crm_id), {"Title": "CEO"})
    conn.delete("Contact", ["c1"])
    records = [r for p in _read(conn, cursor) for r in p.records]
    by_key = {r.key: r for r in records}
    assert set(by_key) == {written[0].crm_id, written[1].crm_id}
    edited, deleted = by_key[str(written[0].crm_id)], by_key[str(written[1].crm_id)]
    assert (edited.deleted, edited.modified_by, edited.fields["Title"]) == (
        False,
        emu.admin_user_id,
        "CEO",
    )
    assert deleted.deleted
    assert deleted.modified_by == emu.integration_user_id


def test_equal_systemmodstamp_is_not_delivered_twice(
    conn: SalesforceConnector, clock: Clock
) -> None:
    """Records at the cursor's exact timestamp are dropped; newcomers at that stamp are not."""
    conn.write("Contact", contacts(3))
    first = _read(conn, None)
    conn.write("Contact", contacts(1, prefix="late"))  # same SystemModstamp as the others
    second = _read(conn, first[-1].cursor)
    assert _keys(second) == ["late0"]
    assert second[-1].cursor is not None
    assert len(second[-1].cursor["ids"]) == 4


def test_overlap_catches_a_record_stamped_just_before_the_cursor(
    conn: SalesforceConnector, clock: Clock
) -> None:
    """A commit that became visible late with an older stamp is still read."""
    clock.tick(5)
    conn.write("Contact", contacts(1, prefix="seen"))
    cursor = _read(conn, None)[-1].cursor
    clock.tick(-1)  # stamped 1 s before the cursor, inside the 2 s overlap
    conn.write("Contact", contacts(1, prefix="late"))
    clock.tick(1)
    assert _keys(_read(conn, cursor)) == ["late0"]


def test_read_is_capped_at_its_start_time(
    emu: SalesforceEmulator, conn: SalesforceConnector, clock: Clock
) -> None:
    """Records stamped after the read started wait for the next read."""
    conn.write("Contact", contacts(1, prefix="now"))
    clock.tick(30)
    conn.write("Contact", contacts(1, prefix="future"))
    clock.tick(-30)
    first = _read(conn, None)
    assert _keys(first) == ["now0"]
    clock.tick(31)
    assert _keys(_read(conn, first[-1].cursor)) == ["future0"]


def test_empty_read_keeps_the_cursor(conn: SalesforceConnector) -> None:
    """With nothing new, the single page carries the same cursor back."""
    cursor = {"ts": "2026-11-25T08:00:00.000Z", "ids": ["003000000000001AAA"]}
    pages = _read(conn, cursor)
    assert [(len(p.records), p.cursor, p.has_more) for p in pages] == [(0, cursor, False)]


def test_read_fields_select_only_what_is_asked(conn: SalesforceConnector) -> None:
    """read_fields limits the columns to those plus the system fields."""
    conn.write("Contact", contacts(1))
    record = _read(conn, None, read_fields=["Email"])[0].records[0]
    assert set(record.fields) == {"Id", "SystemModstamp", "IsDeleted", "LastModifiedById", "Email"}


def test_default_read_fields_come_from_describe(conn: SalesforceConnector) -> None:
    """Without read_fields every described field is selected."""
    conn.write("Contact", contacts(1))
    record = _read(conn, None)[0].records[0]
    assert {"LastName", "Email", "B2Connect_Id__c", "IndividualId"} <= set(record.fields)


# ---- describe, delete


def test_describe_reports_types_lengths_and_flags(conn: SalesforceConnector) -> None:
    """describe maps Salesforce's field metadata onto FieldInfo."""
    schema = conn.describe("Contact")
    ext = schema.fields["B2Connect_Id__c"]
    assert (ext.type, ext.length, ext.external_id, ext.unique) == ("string", 64, True, True)
    assert schema.fields["LastName"].nillable is False
    assert schema.fields["Id"].updateable is False
    assert schema.length_of("Email") == 80


def test_delete_by_key_recycles_and_tolerates_missing(
    emu: SalesforceEmulator, conn: SalesforceConnector
) -> None:
    """Deleting by B2Connect key recycles the record; an unknown key is already gone."""
    written = conn.write("Contact", contacts(2))
    results = conn.delete("Contact", ["c0", "nobody"])
    assert [(r.key, r.ok, r.crm_id) for r in results] == [
        ("c0", True, written[0].crm_id),
        ("nobody", True, None),
    ]
    assert emu.admin_get("Contact", str(written[0].crm_id))["IsDeleted"] is True


# ---- erase


def test_erase_removes_everything_and_flags_the_individual(
    emu: SalesforceEmulator, conn: SalesforceConnector
) -> None:
    """Erase marks ShouldForget, hard-deletes live and recycled contacts, leaves nothing."""
    person = emu.admin_create("Individual", {"LastName": "Doe"})
    live = {"LastName": "Doe", "Email": "jane@example.com", "IndividualId": person["Id"]}
    emu.admin_create("Contact", live)
    recycled = emu.admin_create("Contact", {"LastName": "Doe", "Email": "JANE@example.com"})
    emu.admin_delete("Contact", recycled["Id"])
    other = emu.admin_create("Contact", {"LastName": "Other", "Email": "other@example.com"})
    result = conn.erase(Subject(email="jane@example.com"))
    assert (result.system, result.done, result.removed) == ("salesforce", True, 2)
    assert emu.admin_get("Individual", person["Id"])["ShouldForget"] is True
    assert [c["Id"] for c in emu.admin_list("Contact")] == [other["Id"]]


def test_erase_by_b2connect_id(emu: SalesforceEmulator, conn: SalesforceConnector) -> None:
    """A subject known only by its B2Connect id is found through the external id field."""
    conn.write("Contact", contacts(2))
    result = conn.erase(Subject(b2connect_id="c1"))
    assert (result.done, result.removed) == (True, 1)
    assert [c["B2Connect_Id__c"] for c in emu.admin_list("Contact")] == ["c0"]


def test_erase_without_identifiers_is_not_done(conn: SalesforceConnector) -> None:
    """Nothing to match means the erasure cannot be confirmed."""
    result = conn.erase(Subject())
    assert result.done is False
    assert sum(conn.calls.values()) == 0
