"""HubSpot connector writes end to end: batch upsert through hubspot-api-client and the emulator."""

from __future__ import annotations

import math

import pytest
import requests

from connectors.errors import Retriable
from connectors.hubspot import HubSpotConnector
from connectors.records import WriteItem
from emulators.hubspot import HubSpotEmulator
from tests.connectors.hubspot_support import admin_records, calls, connector, faults

UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"


def _people(n: int, start: int = 0) -> list[WriteItem]:
    return [
        WriteItem(f"c-{i}", {"email": f"person{i}@example.com", "firstname": f"P{i}"})
        for i in range(start, start + n)
    ]


def test_upsert_creates_then_updates_without_duplicates(hubspot_emulator: HubSpotEmulator) -> None:
    """A second write of the same keys updates the same contacts and reports created=False."""
    conn = connector(hubspot_emulator)
    first = conn.write("contacts", _people(3))
    assert [r.key for r in first] == ["c-0", "c-1", "c-2"]
    assert all(r.ok and r.created for r in first)
    changed = [WriteItem(i.key, {**i.payload, "lastname": "Renamed"}) for i in _people(3)]
    second = conn.write("contacts", changed)
    assert [r.crm_id for r in second] == [r.crm_id for r in first]
    assert not any(r.created for r in second)
    rows = admin_records(hubspot_emulator, "contacts")
    assert len(rows) == 3
    assert {r["properties"]["lastname"] for r in rows} == {"Renamed"}
    assert {r["properties"]["b2connect_id"] for r in rows} == {"c-0", "c-1", "c-2"}


def test_batches_of_one_hundred(hubspot_emulator: HubSpotEmulator) -> None:
    """250 items go out in three upsert calls of at most 100 inputs."""
    results = connector(hubspot_emulator).write("contacts", _people(250))
    assert all(r.ok for r in results)
    assert calls(hubspot_emulator)[UPSERT] == 3
    assert len(admin_records(hubspot_emulator, "contacts")) == 250


def test_values_become_strings_and_none_clears(hubspot_emulator: HubSpotEmulator) -> None:
    """Numbers and booleans are sent as strings; None clears a property."""
    conn = connector(hubspot_emulator)
    item = WriteItem("o-1", {"hs_order_name": "Order 1", "hs_total_price": 12.0})
    [created] = conn.write("orders", [item])
    assert created.ok
    conn.write("orders", [WriteItem("o-1", {"hs_order_name": None, "hs_total_price": 7.5})])
    [row] = admin_records(hubspot_emulator, "orders")
    assert row["properties"]["hs_total_price"] == "7.5"
    assert "hs_order_name" not in row["properties"]


def test_id_property_created_once_on_first_write(hubspot_emulator: HubSpotEmulator) -> None:
    """A missing b2connect_id is created as a unique text property, once per object type."""
    conn = connector(hubspot_emulator)
    assert conn.check(["companies"]) == [
        "HubSpot property 'b2connect_id' does not exist on companies; b2sync creates it on "
        "first write, or create it as a unique single-line text property"
    ]
    conn.write("companies", [WriteItem("co-1", {"name": "Acme"})])
    conn.write("companies", [WriteItem("co-2", {"name": "Beta"})])
    assert calls(hubspot_emulator)["POST /crm/v3/properties/{object_type}"] == 1
    info = conn.describe("companies").fields["b2connect_id"]
    assert info.unique and info.type == "string"
    assert conn.check(["companies"]) == []


def test_partial_failure_maps_to_the_failed_records(hubspot_emulator: HubSpotEmulator) -> None:
    """A 207 fails only the inputs it names; the others succeed with their ids."""
    faults(hubspot_emulator, {"match": UPSERT, "kind": "partial", "every": 2})
    results = connector(hubspot_emulator).write("contacts", _people(4))
    assert [r.ok for r in results] == [True, False, True, False]
    failed = results[1].error
    assert failed is not None and failed.code == "VALIDATION_ERROR" and failed.field
    assert len(admin_records(hubspot_emulator, "contacts")) == 2


def test_invalid_email_fails_that_record_with_the_field(hubspot_emulator: HubSpotEmulator) -> None:
    """An invalid email is a VALIDATION_ERROR on field 'email' for that record only."""
    items = [*_people(2), WriteItem("bad", {"email": "not an email"})]
    results = connector(hubspot_emulator).write("contacts", items)
    assert [r.ok for r in results] == [True, True, False]
    error = results[2].error
    assert error is not None
    assert (error.code, error.field, error.retriable) == ("VALIDATION_ERROR", "email", False)


def test_whole_batch_failure_is_split_until_isolated(hubspot_emulator: HubSpotEmulator) -> None:
    """Two inputs sharing an email fail the whole batch; splitting isolates the loser only."""
    items = _people(64)
    items[40] = WriteItem("dup", {"email": items[7].payload["email"], "firstname": "Dup"})
    results = connector(hubspot_emulator).write("contacts", items)
    assert [r.key for r in results if not r.ok] == ["dup"]
    error = results[40].error
    assert error is not None and error.code == "CONFLICT"
    assert calls(hubspot_emulator)[UPSERT] <= 2 * math.ceil(math.log2(64)) + 1
    assert len(admin_records(hubspot_emulator, "contacts")) == 63


def test_unknown_property_fails_only_records_that_set_it(hubspot_emulator: HubSpotEmulator) -> None:
    """Records setting a property the object lacks fail with that field; the rest are written."""
    items = _people(3)
    items[1] = WriteItem("c-1", {"email": "person1@example.com", "shoe_size": "44"})
    results = connector(hubspot_emulator).write("contacts", items)
    assert [r.ok for r in results] == [True, False, True]
    error = results[1].error
    assert error is not None and (error.code, error.field) == ("VALIDATION_ERROR", "shoe_size")


def test_whole_batch_missing_property_fails_its_records_without_splitting(
    hubspot_emulator: HubSpotEmulator,
) -> None:
    """A whole-batch PROPERTY_DOESNT_EXIST fails the records setting it; one call sends the rest."""
    detail = (
        '[{"isValid":false,"message":"Property \\"shoe_size\\" does not exist",'
        '"error":"PROPERTY_DOESNT_EXIST","name":"shoe_size"}]'
    )
    faults(
        hubspot_emulator,
        {
            "match": UPSERT,
            "status": 400,
            "code": "VALIDATION_ERROR",
            "message": f"Property values were not valid: {detail}",
            "times": 1,
        },
    )
    items = _people(50)
    for i in (3, 30):
        items[i] = WriteItem(items[i].key, {**items[i].payload, "shoe_size": "44"})
    results = connector(hubspot_emulator).write("contacts", items)
    assert [r.key for r in results if not r.ok] == ["c-3", "c-30"]
    error = results[3].error
    assert error is not None and (error.code, error.field) == ("PROPERTY_DOESNT_EXIST", "shoe_size")
    assert calls(hubspot_emulator)[UPSERT] == 2


def test_custom_id_property_per_call(hubspot_emulator: HubSpotEmulator) -> None:
    """write(..., id_property='email') upserts contacts on their email."""
    conn = connector(hubspot_emulator)
    [first] = conn.write(
        "contacts", [WriteItem("k", {"email": "Ann@Example.com"})], id_property="email"
    )
    [again] = conn.write(
        "contacts",
        [WriteItem("k", {"email": "ann@example.com", "firstname": "Ann"})],
        id_property="email",
    )
    assert first.created and not again.created and again.crm_id == first.crm_id
    assert "POST /crm/v3/properties/{object_type}" not in calls(hubspot_emulator)


def test_empty_batch_makes_no_call(hubspot_emulator: HubSpotEmulator) -> None:
    """Writing nothing calls nothing."""
    conn: HubSpotConnector = connector(hubspot_emulator)
    assert conn.write("contacts", []) == []
    assert sum(conn.calls.values()) == 0


def test_transient_error_after_a_written_chunk_fails_the_rest_retriably(
    hubspot_emulator: HubSpotEmulator,
) -> None:
    """A 503 on the second call keeps the first 100 results; the other 50 are retriable."""
    faults(hubspot_emulator, {"match": UPSERT, "status": 503, "after": 1, "times": 1})
    results = connector(hubspot_emulator).write("contacts", _people(150))
    assert all(r.ok for r in results[:100])
    assert all(not r.ok and r.error and r.error.retriable for r in results[100:])


def test_transient_error_on_the_first_call_raises(hubspot_emulator: HubSpotEmulator) -> None:
    """A 503 before anything was written raises Retriable for the engine to retry."""
    faults(hubspot_emulator, {"match": UPSERT, "status": 503, "times": 1})
    with pytest.raises(Retriable):
        connector(hubspot_emulator).write("contacts", _people(2))


def test_id_property_removed_later_is_recreated(hubspot_emulator: HubSpotEmulator) -> None:
    """If someone deletes b2connect_id after it was checked, the next write recreates it."""
    conn = connector(hubspot_emulator)
    conn.write("contacts", _people(1))
    requests.delete(
        f"{hubspot_emulator.url}/crm/v3/properties/contacts/b2connect_id",
        headers={"Authorization": f"Bearer {hubspot_emulator.token}"},
        timeout=5,
    ).raise_for_status()
    [result] = conn.write("contacts", _people(1, start=1))
    assert result.ok
    assert calls(hubspot_emulator)["POST /crm/v3/properties/{object_type}"] == 2
