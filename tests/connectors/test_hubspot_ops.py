"""HubSpot associations, deletes and GDPR erasure end to end."""

from __future__ import annotations

from connectors.hubspot import CONTACT_TO_COMPANY, ORDER_TO_CONTACT, ORDER_TO_LINE_ITEM
from connectors.records import Subject, WriteItem
from emulators.hubspot import HubSpotEmulator
from tests.connectors.hubspot_support import admin_create, admin_records, calls, connector

ASSOC = "POST /crm/v4/associations/{from_type}/{to_type}/batch/create"


def _ids(results: list) -> list[str]:  # type: ignore[type-arg]
    return [r.crm_id for r in results]


def test_order_associations_are_created(hubspot_emulator: HubSpotEmulator) -> None:
    """Order→contact and order→line item associations show in the admin API."""
    conn = connector(hubspot_emulator)
    [order] = _ids(conn.write("orders", [WriteItem("o-1", {"hs_order_name": "O1"})]))
    [contact] = _ids(conn.write("contacts", [WriteItem("c-1", {"email": "a@example.com"})]))
    lines = _ids(
        conn.write(
            "line_items",
            [WriteItem(f"l-{i}", {"name": f"L{i}", "quantity": 1, "price": 5}) for i in range(2)],
        )
    )
    assert all(
        r.ok for r in conn.associate("orders", "contacts", [(order, contact)], ORDER_TO_CONTACT)
    )
    results = conn.associate(
        "orders", "line_items", [(order, line) for line in lines], ORDER_TO_LINE_ITEM
    )
    assert [(r.key, r.ok) for r in results] == [(order, True), (order, True)]
    rows = admin_records(hubspot_emulator, "associations")
    edges = {(r["fromObjectId"], r["toObjectId"], t) for r in rows for t in r["associationTypeIds"]}
    assert (order, contact, ORDER_TO_CONTACT) in edges
    assert {(order, line, ORDER_TO_LINE_ITEM) for line in lines} <= edges


def test_association_to_a_missing_record_fails_only_that_pair(
    hubspot_emulator: HubSpotEmulator,
) -> None:
    """A pair naming a record that does not exist fails; the other pair is created."""
    conn = connector(hubspot_emulator)
    [contact] = _ids(conn.write("contacts", [WriteItem("c-1", {"email": "a@example.com"})]))
    [company] = _ids(conn.write("companies", [WriteItem("co-1", {"name": "Acme"})]))
    results = conn.associate(
        "contacts", "companies", [(contact, company), (contact, "999999")], CONTACT_TO_COMPANY
    )
    assert [r.ok for r in results] == [True, False]
    assert calls(hubspot_emulator)[ASSOC] == 1


def test_associations_go_out_one_hundred_per_call(hubspot_emulator: HubSpotEmulator) -> None:
    """150 pairs take two batch calls."""
    conn = connector(hubspot_emulator)
    [order] = _ids(conn.write("orders", [WriteItem("o-1", {"hs_order_name": "O1"})]))
    lines = _ids(
        conn.write("line_items", [WriteItem(f"l-{i}", {"name": f"L{i}"}) for i in range(150)])
    )
    results = conn.associate(
        "orders", "line_items", [(order, x) for x in lines], ORDER_TO_LINE_ITEM
    )
    assert all(r.ok for r in results) and len(results) == 150
    assert calls(hubspot_emulator)[ASSOC] == 2


def test_erase_removes_the_contact_for_good(hubspot_emulator: HubSpotEmulator) -> None:
    """GDPR erase deletes the contact permanently (not archived) by email."""
    made = admin_create(hubspot_emulator, "contacts", {"email": "gone@example.com"})["id"]
    result = connector(hubspot_emulator).erase(Subject(email="Gone@Example.com"))
    assert (result.system, result.done, result.removed) == ("hubspot", True, 1)
    assert made not in [r["id"] for r in admin_records(hubspot_emulator, "contacts")]


def test_erase_of_an_unknown_email_is_done(hubspot_emulator: HubSpotEmulator) -> None:
    """Erasing an email HubSpot never saw is done (HubSpot blocklists it)."""
    result = connector(hubspot_emulator).erase(Subject(email="never@example.com"))
    assert result.done


def test_erase_without_identifiers_is_not_done(hubspot_emulator: HubSpotEmulator) -> None:
    """Without email or HubSpot id nothing can be erased, and the result says so."""
    conn = connector(hubspot_emulator)
    result = conn.erase(Subject(b2connect_id="b-1"))
    assert not result.done and "by hand" in result.detail
    assert sum(conn.calls.values()) == 0


def test_delete_archives_by_b2connect_key(hubspot_emulator: HubSpotEmulator) -> None:
    """delete() archives the records holding the keys; unknown keys are already done."""
    conn = connector(hubspot_emulator)
    ids = _ids(
        conn.write(
            "contacts", [WriteItem(f"c-{i}", {"email": f"d{i}@example.com"}) for i in range(2)]
        )
    )
    results = conn.delete("contacts", ["c-0", "c-unknown"])
    assert [(r.key, r.ok, r.crm_id) for r in results] == [
        ("c-0", True, ids[0]),
        ("c-unknown", True, None),
    ]
    archived = {r["id"]: r["archived"] for r in admin_records(hubspot_emulator, "contacts")}
    assert archived == {ids[0]: True, ids[1]: False}
