"""HubSpot emulator: admin API, Python helpers, reset and injected faults."""

from __future__ import annotations

import json

import hubspot
import pytest
import requests
from hubspot.crm.contacts import ApiException, SimplePublicObjectInputForCreate
from hubspot.crm.contacts.exceptions import ServiceException, UnauthorizedException

from emulators import FaultPlan, FaultRule
from emulators.hubspot import HubSpotEmulator


def test_admin_list_includes_archived_flagged(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """The admin list shows archived records with archived=True."""
    live = hubspot_emulator.admin_create("contacts", {"properties": {"email": "live@example.com"}})
    gone = hubspot_emulator.admin_create("contacts", {"properties": {"email": "gone@example.com"}})
    hubspot_client.crm.contacts.basic_api.archive(gone["id"])
    rows = requests.get(f"{hubspot_emulator.url}/_emulator/records/contacts", timeout=5).json()
    assert {(r["id"], r["archived"]) for r in rows} == {(live["id"], False), (gone["id"], True)}
    assert set(rows[0]) == {"id", "properties", "createdAt", "updatedAt", "archived"}


def test_admin_http_create_and_patch(hubspot_emulator: HubSpotEmulator) -> None:
    """POST and PATCH under /_emulator/records edit like a CRM user."""
    base = f"{hubspot_emulator.url}/_emulator/records/orders"
    created = requests.post(base, json={"properties": {"hs_order_name": "#9"}}, timeout=5)
    assert created.status_code == 201
    oid = created.json()["id"]
    patched = requests.patch(
        f"{base}/{oid}", json={"properties": {"hs_fulfillment_status": "packed"}}, timeout=5
    )
    assert patched.json()["properties"]["hs_fulfillment_status"] == "packed"
    assert requests.get(f"{base}/{oid}", timeout=5).json()["properties"]["hs_order_name"] == "#9"


def test_admin_patch_validates_like_the_api(hubspot_emulator: HubSpotEmulator) -> None:
    """Unknown properties are refused by the admin API too."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "v@example.com"}})
    resp = requests.patch(
        f"{hubspot_emulator.url}/_emulator/records/contacts/{rec['id']}",
        json={"nope": "x"},
        timeout=5,
    )
    assert resp.status_code == 400


def test_admin_archive_and_restore(hubspot_emulator: HubSpotEmulator) -> None:
    """archived true/false archives and restores a record."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "r@example.com"}})
    assert (
        hubspot_emulator.admin_patch("contacts", rec["id"], {"archived": True})["archived"] is True
    )
    assert (
        hubspot_emulator.admin_patch("contacts", rec["id"], {"archived": False})["archived"]
        is False
    )


def test_admin_lists_associations_and_subscriptions(hubspot_emulator: HubSpotEmulator) -> None:
    """Associations and subscription states are visible through the admin API."""
    order = hubspot_emulator.admin_create("orders", {"properties": {"hs_order_name": "#1"}})
    contact = hubspot_emulator.admin_create("contacts", {"properties": {"email": "s@example.com"}})
    hubspot_emulator.admin_create(
        "associations",
        {
            "fromObjectType": "orders",
            "fromObjectId": order["id"],
            "toObjectType": "contacts",
            "toObjectId": contact["id"],
        },
    )
    hubspot_emulator.admin_patch(
        "subscriptions", "s@example.com", {"subscriptionId": "102", "statusState": "UNSUBSCRIBED"}
    )
    assoc = hubspot_emulator.admin_list("associations")
    assert {a["associationTypeIds"][0] for a in assoc} == {507, 508}
    subs = hubspot_emulator.admin_list("subscriptions")
    assert subs == [
        {
            "id": "s@example.com",
            "optedOutOfAll": False,
            "statuses": {"101": "NOT_SPECIFIED", "102": "UNSUBSCRIBED", "103": "NOT_SPECIFIED"},
        }
    ]


def test_unknown_admin_object_is_404(hubspot_emulator: HubSpotEmulator) -> None:
    """An unknown object name is a 404."""
    assert (
        requests.get(f"{hubspot_emulator.url}/_emulator/records/widgets", timeout=5).status_code
        == 404
    )


def test_records_helper_filters_archived(
    hubspot_emulator: HubSpotEmulator, hubspot_client: hubspot.Client
) -> None:
    """emu.records(obj, archived=...) filters; emu.record(obj, id) reads one."""
    rec = hubspot_emulator.admin_create("companies", {"properties": {"name": "Acme"}})
    hubspot_client.crm.companies.basic_api.archive(rec["id"])
    assert hubspot_emulator.records("companies", archived=False) == []
    assert hubspot_emulator.record("companies", rec["id"])["archived"] is True


def test_reset_restores_seeded_state(
    hubspot_emulator: HubSpotEmulator, hubspot_client: hubspot.Client
) -> None:
    """reset() forgets records, custom properties, blocklist and call counts."""
    hubspot_client.crm.properties.core_api.create(
        "contacts",
        hubspot.crm.properties.PropertyCreate(
            name="b2connect_id",
            label="B2C",
            type="string",
            field_type="text",
            group_name="contactinformation",
            has_unique_value=True,
        ),
    )
    hubspot_emulator.admin_create("contacts", {"properties": {"email": "x@example.com"}})
    hubspot_emulator.reset()
    assert hubspot_emulator.records("contacts") == []
    assert "b2connect_id" not in hubspot_emulator.store.properties["contacts"]
    assert "email" in hubspot_emulator.store.properties["contacts"]
    assert not hubspot_emulator.calls


def test_calls_are_counted_by_route_template(
    hubspot_emulator: HubSpotEmulator, hubspot_client: hubspot.Client
) -> None:
    """Vendor calls are counted under their route template."""
    hubspot_client.crm.contacts.basic_api.get_page()
    hubspot_client.crm.objects.basic_api.get_page("orders")
    assert hubspot_emulator.calls["GET /crm/v3/objects/{object_type}"] == 2


def test_injected_500_raises_service_exception(
    hubspot_emulator: HubSpotEmulator, hubspot_client: hubspot.Client
) -> None:
    """A status fault renders a HubSpot error body; 5xx become ServiceException."""
    hubspot_emulator.faults = FaultPlan(
        [FaultRule(match="POST /crm/v3/objects/{object_type}", status=502, times=1)]
    )
    with pytest.raises(ServiceException) as info:
        hubspot_client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "f@example.com"})
        )
    assert json.loads(info.value.body)["status"] == "error"
    assert (
        hubspot_client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "f@example.com"})
        )
        is not None
    )


def test_injected_429_has_rate_limit_body(
    hubspot_emulator: HubSpotEmulator, hubspot_client: hubspot.Client
) -> None:
    """A 429 fault looks like a TEN_SECONDLY_ROLLING rejection."""
    hubspot_emulator.faults = FaultPlan([FaultRule(match="POST *", status=429, times=1)])
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "g@example.com"})
        )
    body = json.loads(info.value.body)
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"


def test_expired_session_fault(
    hubspot_emulator: HubSpotEmulator, hubspot_client: hubspot.Client
) -> None:
    """expired_session answers 401 EXPIRED_AUTHENTICATION."""
    hubspot_emulator.faults = FaultPlan([FaultRule(kind="expired_session", times=1)])
    with pytest.raises(UnauthorizedException) as info:
        hubspot_client.crm.contacts.basic_api.get_page()
    assert json.loads(info.value.body)["category"] == "EXPIRED_AUTHENTICATION"


def test_unknown_route_has_hubspot_error_body(hubspot_emulator: HubSpotEmulator) -> None:
    """Paths the emulator does not serve answer a HubSpot-style JSON 404."""
    resp = requests.get(f"{hubspot_emulator.url}/crm/v3/nothing/here/at/all", timeout=5)
    assert resp.status_code == 404
    assert resp.json()["status"] == "error" and resp.json()["category"] == "OBJECT_NOT_FOUND"


def test_admin_sets_the_read_only_email_counters(hubspot_emulator: HubSpotEmulator) -> None:
    """The email tool's counters are read-only for apps but the admin API sets them."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "e@example.com"}})
    base = f"{hubspot_emulator.url}/_emulator/records/contacts/{rec['id']}"

    patched = requests.patch(
        base, json={"hs_email_open": "3", "hs_email_last_open_date": "2026-11-20T10:00:00Z"},
        timeout=5,
    )  # fmt: skip

    assert patched.status_code == 200, patched.text
    props = patched.json()["properties"]
    assert (props["hs_email_open"], props["hs_email_last_open_date"]) == (
        "3", "2026-11-20T10:00:00.000Z",
    )  # fmt: skip
