"""Salesforce emulator: SOQL query/queryAll with paging, getUpdated and getDeleted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from emulators.salesforce import SalesforceEmulator
from tests.fixtures.salesforce import salesforce_client

T0 = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


class FakeClock:
    """A settable clock for the emulator."""

    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta).total_seconds()


@pytest.fixture(scope="module")
def clocked() -> Iterator[tuple[SalesforceEmulator, FakeClock]]:
    """An emulator of this module's own, driven by a settable clock."""
    clock = FakeClock()
    emu = SalesforceEmulator(clock=clock)
    emu.start()
    yield emu, clock
    emu.stop()


@pytest.fixture
def org(clocked: tuple[SalesforceEmulator, FakeClock]) -> Iterator[tuple[Salesforce, FakeClock]]:
    """A client for the clocked emulator, reset and with the clock back at T0."""
    emu, clock = clocked
    clock.now = T0.timestamp()
    emu.reset()
    client = salesforce_client(emu)
    yield client, clock
    client.session.close()


def _create_contacts(sf: Salesforce, count: int) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 200):
        records = [
            {"attributes": {"type": "Contact"}, "LastName": f"N{i:04d}"}
            for i in range(start, min(count, start + 200))
        ]
        results = sf.restful(
            "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
        )
        ids.extend(r["id"] for r in results)
    return ids


def test_query_returns_records_with_attributes(sf: Salesforce) -> None:
    """query returns totalSize, done and records with attributes."""
    rid = sf.Contact.create({"LastName": "Doe", "Email": "d@example.com"})["id"]
    result = sf.query("SELECT Id, Email FROM Contact WHERE LastName = 'Doe'")
    assert result["totalSize"] == 1 and result["done"] is True
    assert result["records"][0] == {
        "attributes": {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{rid}"},
        "Id": rid,
        "Email": "d@example.com",
    }


def test_query_excludes_deleted_and_query_all_includes_them(sf: Salesforce) -> None:
    """Recycle Bin rows show only in queryAll, with IsDeleted true."""
    keep = sf.Contact.create({"LastName": "Keep"})["id"]
    gone = sf.Contact.create({"LastName": "Gone"})["id"]
    sf.Contact.delete(gone)
    live = sf.query_all("SELECT Id FROM Contact")["records"]
    every = sf.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)["records"]
    assert [r["Id"] for r in live] == [keep]
    assert {r["Id"]: r["IsDeleted"] for r in every} == {keep: False, gone: True}


def test_query_all_iter_follows_next_records_url(sf: Salesforce) -> None:
    """More rows than the batch size come back over several pages."""
    ids = _create_contacts(sf, 450)
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query("SELECT Id FROM Contact ORDER BY LastName", headers=headers)
    assert first["done"] is False and len(first["records"]) == 200
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-200")
    got = [
        r["Id"]
        for r in sf.query_all_iter("SELECT Id FROM Contact ORDER BY LastName", headers=headers)
    ]
    assert got == ids


def test_default_page_is_2000_rows(sf: Salesforce) -> None:
    """Without a batchSize header a page holds up to 2000 rows."""
    _create_contacts(sf, 2001)
    first = sf.query("SELECT Id FROM Contact")
    assert (len(first["records"]), first["totalSize"], first["done"]) == (2000, 2001, False)


def test_count_query(sf: Salesforce) -> None:
    """SELECT COUNT() answers totalSize with no records."""
    _create_contacts(sf, 3)
    assert sf.query("SELECT COUNT() FROM Contact") == {
        "totalSize": 3,
        "done": True,
        "records": [],
    }


def test_relationship_field_in_select(sf: Salesforce) -> None:
    """Account.Name is joined as a nested record with attributes."""
    acc = sf.Account.create({"Name": "Acme"})["id"]
    sf.Contact.create({"LastName": "Doe", "AccountId": acc})
    rec = sf.query("SELECT Account.Name FROM Contact")["records"][0]
    assert rec["Account"]["Name"] == "Acme"
    assert rec["Account"]["attributes"]["type"] == "Account"


def test_malformed_query_is_400(sf: Salesforce) -> None:
    """Bad SOQL answers 400 MALFORMED_QUERY."""
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELEKT Id FROM Contact")
    assert exc.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_unknown_field_in_query_is_invalid_field(sf: Salesforce) -> None:
    """An unknown column answers 400 INVALID_FIELD."""
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Nope__c FROM Contact")
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_unknown_object_in_query_is_invalid_type(sf: Salesforce) -> None:
    """An unknown sObject answers 400 INVALID_TYPE."""
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Nope__c")
    assert exc.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_system_modstamp_cursor_query(org: tuple[Salesforce, FakeClock]) -> None:
    """WHERE SystemModstamp > cursor picks up only later writes."""
    sf, clock = org
    sf.Contact.create({"LastName": "Old"})
    cursor = sf.query("SELECT SystemModstamp FROM Contact")["records"][0]["SystemModstamp"]
    clock.advance(seconds=5)
    sf.Contact.create({"LastName": "New"})
    rows = sf.query(
        f"SELECT LastName FROM Contact WHERE SystemModstamp > {cursor} ORDER BY SystemModstamp, Id"
    )["records"]
    assert [r["LastName"] for r in rows] == ["New"]


def test_delete_bumps_system_modstamp_for_query_all(org: tuple[Salesforce, FakeClock]) -> None:
    """A delete moves SystemModstamp, so queryAll on the cursor finds it."""
    sf, clock = org
    rid = sf.Contact.create({"LastName": "Doe"})["id"]
    clock.advance(minutes=1)
    sf.Contact.delete(rid)
    rows = sf.query_all(
        "SELECT Id, IsDeleted, SystemModstamp FROM Contact WHERE SystemModstamp > "
        "2026-11-25T10:00:30Z",
        include_deleted=True,
    )["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(rid, True)]
    assert rows[0]["SystemModstamp"] == "2026-11-25T10:01:00.000+0000"


def test_get_updated_returns_ids_in_window(org: tuple[Salesforce, FakeClock]) -> None:
    """sobjects/Contact/updated lists ids modified in [start, end)."""
    sf, clock = org
    early = sf.Contact.create({"LastName": "Early"})["id"]
    clock.advance(minutes=10)
    late = sf.Contact.create({"LastName": "Late"})["id"]
    clock.advance(minutes=10)
    result = sf.Contact.updated(T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=30))
    assert result["ids"] == [late]
    assert result["latestDateCovered"] == "2026-11-25T10:20:00.000+0000"
    assert (
        early
        not in sf.Contact.updated(T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=6))["ids"]
    )


def test_get_updated_refuses_start_older_than_30_days(org: tuple[Salesforce, FakeClock]) -> None:
    """getUpdated only covers the last 30 days."""
    sf, _clock = org
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.updated(T0 - dt.timedelta(days=31), T0)
    assert exc.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_get_deleted_lists_recycle_bin_rows(org: tuple[Salesforce, FakeClock]) -> None:
    """sobjects/Contact/deleted lists deletions with their dates."""
    sf, clock = org
    rid = sf.Contact.create({"LastName": "Doe"})["id"]
    clock.advance(minutes=3)
    sf.Contact.delete(rid)
    clock.advance(minutes=3)
    result = sf.Contact.deleted(T0, T0 + dt.timedelta(hours=1))
    assert result["deletedRecords"] == [{"id": rid, "deletedDate": "2026-11-25T10:03:00.000+0000"}]
    assert result["latestDateCovered"] == "2026-11-25T10:06:00.000+0000"
    assert result["earliestDateAvailable"] == "2026-11-25T10:00:00.000+0000"


def test_get_deleted_refuses_start_older_than_15_days(org: tuple[Salesforce, FakeClock]) -> None:
    """getDeleted only covers the last 15 days."""
    sf, clock = org
    clock.advance(days=16)
    with pytest.raises(SalesforceMalformedRequest):
        sf.Contact.deleted(T0, T0 + dt.timedelta(days=1))


def test_recycle_bin_is_emptied_after_15_days(org: tuple[Salesforce, FakeClock]) -> None:
    """After 15 days a deleted row leaves queryAll and earliestDateAvailable moves."""
    sf, clock = org
    rid = sf.Contact.create({"LastName": "Doe"})["id"]
    sf.Contact.delete(rid)
    clock.advance(days=15, minutes=1)
    assert sf.query_all("SELECT Id FROM Contact", include_deleted=True)["records"] == []
    now = T0 + dt.timedelta(days=15, minutes=1)
    result = sf.Contact.deleted(now - dt.timedelta(days=1), now)
    assert result["earliestDateAvailable"] == "2026-11-25T10:00:00.000+0000"


def _stamps(rec: dict[str, Any]) -> tuple[str, str]:
    return rec["LastModifiedDate"], rec["SystemModstamp"]


def test_admin_edit_is_stamped_by_the_crm_user(
    org: tuple[Salesforce, FakeClock], clocked: tuple[SalesforceEmulator, FakeClock]
) -> None:
    """admin_patch moves timestamps and records the non-integration user."""
    sf, clock = org
    emu, _ = clocked
    rid = sf.Contact.create({"LastName": "Doe"})["id"]
    clock.advance(seconds=90)
    rec = emu.admin_patch("Contact", rid, {"Phone": "+49 30 1234"})
    assert rec["LastModifiedById"] == "005000000000002AAA"
    assert _stamps(rec) == ("2026-11-25T10:01:30.000+0000", "2026-11-25T10:01:30.000+0000")
    assert sf.Contact.get(rid)["CreatedById"] == "005000000000001AAA"


def test_touch_moves_only_system_modstamp(
    org: tuple[Salesforce, FakeClock], clocked: tuple[SalesforceEmulator, FakeClock]
) -> None:
    """A system process touch moves SystemModstamp but not LastModifiedDate."""
    sf, clock = org
    emu, _ = clocked
    rid = sf.Contact.create({"LastName": "Doe"})["id"]
    clock.advance(seconds=1)
    rec = emu.touch("Contact", rid)
    assert _stamps(rec) == ("2026-11-25T10:00:00.000+0000", "2026-11-25T10:00:01.000+0000")
