"""HubSpot emulator: CRM v3 basic object endpoints through the real hubspot-api-client."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import hubspot
import pytest
from hubspot.crm.contacts import (
    ApiException,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import NotFoundException
from hubspot.crm.objects import SimplePublicObjectInput as ObjectInput
from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectCreate

from emulators.hubspot import HubSpotEmulator
from tests.fixtures.hubspot import hubspot_client_for

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _create(client: hubspot.Client, **props: str) -> str:
    rec = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties=props))
    return str(rec.id)


def test_create_contact_returns_populated_model(hubspot_client: hubspot.Client) -> None:
    """Create answers 201 and the SDK returns a SimplePublicObject with string properties."""
    rec = hubspot_client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"email": "Ada@Example.com", "firstname": "Ada"}
        )
    )
    assert rec is not None
    assert rec.properties["email"] == "ada@example.com"
    assert rec.properties["hs_object_id"] == rec.id
    assert rec.created_at is not None and rec.updated_at is not None


def test_timestamps_are_iso_with_milliseconds(hubspot_emulator: HubSpotEmulator) -> None:
    """createdate, lastmodifieddate, createdAt and updatedAt are ISO strings with ms and Z."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "t@example.com"}})
    assert ISO_MS.match(rec["createdAt"]) and ISO_MS.match(rec["updatedAt"])
    assert ISO_MS.match(rec["properties"]["createdate"])
    assert ISO_MS.match(rec["properties"]["lastmodifieddate"])


def test_get_by_id_returns_default_properties(hubspot_client: hubspot.Client) -> None:
    """Without ``properties`` a contact comes back with HubSpot's default set, unset ones null."""
    cid = _create(hubspot_client, email="b@example.com", phone="123")
    rec = hubspot_client.crm.contacts.basic_api.get_by_id(cid)
    assert set(rec.properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert rec.properties["firstname"] is None


def test_get_with_repeated_properties_parameter(hubspot_client: hubspot.Client) -> None:
    """Asked-for properties (sent as repeated query values) come back plus the basics."""
    cid = _create(hubspot_client, email="c@example.com", phone="555")
    rec = hubspot_client.crm.contacts.basic_api.get_by_id(cid, properties=["phone", "company"])
    assert rec.properties["phone"] == "555"
    assert rec.properties["company"] is None
    assert "hs_object_id" in rec.properties and "email" not in rec.properties


def test_get_accepts_comma_separated_properties(hubspot_client: hubspot.Client) -> None:
    """``properties=a,b`` is accepted like the repeated form."""
    cid = _create(hubspot_client, email="d@example.com", phone="1", company="Acme")
    resp = hubspot_client.api_request(
        {
            "method": "GET",
            "path": f"/crm/v3/objects/contacts/{cid}",
            "qs": {"properties": "phone,company"},
        }
    )
    props = resp.json()["properties"]
    assert props["phone"] == "1" and props["company"] == "Acme"


def test_get_by_email_id_property(hubspot_client: hubspot.Client) -> None:
    """``idProperty=email`` looks a contact up by email."""
    cid = _create(hubspot_client, email="e@example.com")
    rec = hubspot_client.crm.contacts.basic_api.get_by_id("E@example.com", id_property="email")
    assert rec.id == cid


def test_get_unknown_id_raises_not_found(hubspot_client: hubspot.Client) -> None:
    """A missing id is a 404 with category OBJECT_NOT_FOUND."""
    with pytest.raises(NotFoundException) as info:
        hubspot_client.crm.contacts.basic_api.get_by_id("999999")
    assert json.loads(info.value.body)["category"] == "OBJECT_NOT_FOUND"


def test_update_changes_value_and_bumps_last_modified(
    hubspot_emulator_factory: Callable[..., HubSpotEmulator],
) -> None:
    """PATCH answers 200 with the new value and a later lastmodifieddate/updatedAt."""
    now = [1_700_000_000.0]
    emu = hubspot_emulator_factory(clock=lambda: now[0])
    client = hubspot_client_for(emu)
    cid = _create(client, email="f@example.com", firstname="Old")
    now[0] += 60
    rec = client.crm.contacts.basic_api.update(
        cid, SimplePublicObjectInput(properties={"firstname": "New"})
    )
    assert rec.properties["firstname"] == "New"
    assert rec.properties["createdate"] == "2023-11-14T22:13:20.000Z"
    assert rec.properties["lastmodifieddate"] == "2023-11-14T22:14:20.000Z"
    assert rec.updated_at > rec.created_at


def test_update_with_empty_string_clears_value(hubspot_client: hubspot.Client) -> None:
    """An empty string removes the value."""
    cid = _create(hubspot_client, email="g@example.com", phone="42")
    hubspot_client.crm.contacts.basic_api.update(
        cid, SimplePublicObjectInput(properties={"phone": ""})
    )
    rec = hubspot_client.crm.contacts.basic_api.get_by_id(cid, properties=["phone"])
    assert rec.properties["phone"] is None


def test_unknown_property_is_validation_error(hubspot_client: hubspot.Client) -> None:
    """Writing a property that does not exist is 400 VALIDATION_ERROR with PROPERTY_DOESNT_EXIST."""
    cid = _create(hubspot_client, email="h@example.com")
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.contacts.basic_api.update(
            cid, SimplePublicObjectInput(properties={"b2connect_id": "C-1"})
        )
    body = json.loads(info.value.body)
    assert info.value.status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: [")
    detail = json.loads(body["message"].split(": ", 1)[1])[0]
    assert detail == {
        "isValid": False,
        "message": 'Property "b2connect_id" does not exist',
        "error": "PROPERTY_DOESNT_EXIST",
        "name": "b2connect_id",
    }


def test_invalid_email_is_rejected(hubspot_client: hubspot.Client) -> None:
    """An invalid email is 400 VALIDATION_ERROR with INVALID_EMAIL in errors[]."""
    with pytest.raises(ApiException) as info:
        _create(hubspot_client, email="not-an-email")
    body = json.loads(info.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["code"] == "INVALID_EMAIL"


def test_read_only_property_is_rejected(hubspot_client: hubspot.Client) -> None:
    """hs_email_optout is changed through the subscriptions API, not written directly."""
    with pytest.raises(ApiException) as info:
        _create(hubspot_client, email="ro@example.com", hs_email_optout="true")
    assert info.value.status == 400


def test_enumeration_value_must_be_an_option(hubspot_client: hubspot.Client) -> None:
    """lifecyclestage accepts only its internal option values."""
    _create(hubspot_client, email="lc@example.com", lifecyclestage="customer")
    with pytest.raises(ApiException) as info:
        _create(hubspot_client, email="lc2@example.com", lifecyclestage="Kunde")
    assert json.loads(info.value.body)["errors"][0]["code"] == "INVALID_OPTION"


def test_duplicate_email_on_create_is_conflict(hubspot_client: hubspot.Client) -> None:
    """Creating a contact whose email exists is 409 'Contact already exists. Existing ID: N'."""
    cid = _create(hubspot_client, email="dup@example.com")
    with pytest.raises(ApiException) as info:
        _create(hubspot_client, email="DUP@example.com")
    body = json.loads(info.value.body)
    assert info.value.status == 409
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {cid}"


def test_update_to_existing_email_is_conflict(hubspot_client: hubspot.Client) -> None:
    """Changing an email to one another contact holds is 409."""
    _create(hubspot_client, email="one@example.com")
    other = _create(hubspot_client, email="two@example.com")
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.contacts.basic_api.update(
            other, SimplePublicObjectInput(properties={"email": "one@example.com"})
        )
    assert info.value.status == 409


def test_archive_answers_204_and_hides_record(hubspot_client: hubspot.Client) -> None:
    """DELETE archives: gone from get and list, present with archived=true."""
    cid = _create(hubspot_client, email="arch@example.com")
    assert hubspot_client.crm.contacts.basic_api.archive(cid) is None
    with pytest.raises(NotFoundException):
        hubspot_client.crm.contacts.basic_api.get_by_id(cid)
    assert hubspot_client.crm.contacts.basic_api.get_page().results == []
    archived = hubspot_client.crm.contacts.basic_api.get_page(archived=True).results
    assert [r.id for r in archived] == [cid] and archived[0].archived is True
    assert hubspot_client.crm.contacts.basic_api.get_by_id(cid, archived=True).id == cid


def test_list_pages_with_string_after_cursor(hubspot_client: hubspot.Client) -> None:
    """limit/after paging: paging.next.after is a string with a link; the last page has none."""
    ids = [_create(hubspot_client, email=f"p{i}@example.com") for i in range(5)]
    first = hubspot_client.crm.contacts.basic_api.get_page(limit=2)
    assert [r.id for r in first.results] == ids[:2]
    assert isinstance(first.paging.next.after, str) and "after=" in first.paging.next.link
    seen = [r.id for r in first.results]
    after = first.paging.next.after
    while after:
        page = hubspot_client.crm.contacts.basic_api.get_page(limit=2, after=after)
        seen += [r.id for r in page.results]
        after = page.paging.next.after if page.paging else None
    assert seen == ids


def test_list_default_limit_is_ten(hubspot_client: hubspot.Client) -> None:
    """Without limit a page holds 10 records."""
    for i in range(12):
        _create(hubspot_client, email=f"l{i}@example.com")
    assert len(hubspot_client.crm.contacts.basic_api.get_page().results) == 10


def test_get_all_helper_reads_every_contact(hubspot_client: hubspot.Client) -> None:
    """The SDK's get_all loop terminates and sees every record."""
    for i in range(3):
        _create(hubspot_client, email=f"all{i}@example.com")
    assert len(hubspot_client.crm.contacts.get_all()) == 3


@pytest.mark.parametrize("object_type", ["orders", "order", "0-123"])
def test_orders_through_generic_objects_api(
    hubspot_client: hubspot.Client, object_type: str
) -> None:
    """Orders work through crm.objects with the plural, singular and 0-123 names."""
    api = hubspot_client.crm.objects.basic_api
    rec = api.create(
        object_type,
        ObjectCreate(
            properties={"hs_order_name": "#1001", "hs_total_price": 99.5, "hs_currency_code": "EUR"}
        ),
    )
    assert rec.properties["hs_total_price"] == "99.5"
    assert "hs_lastmodifieddate" in rec.properties
    got = api.get_by_id(object_type, rec.id, properties=["hs_order_name"])
    assert got.properties["hs_order_name"] == "#1001"
    upd = api.update(
        object_type, rec.id, ObjectInput(properties={"hs_fulfillment_status": "shipped"})
    )
    assert upd.properties["hs_fulfillment_status"] == "shipped"


@pytest.mark.parametrize("object_type", ["0-1", "0-2", "0-3", "0-8"])
def test_numeric_type_aliases(hubspot_client: hubspot.Client, object_type: str) -> None:
    """0-1/0-2/0-3/0-8 address contacts, companies, deals and line items."""
    props = {"0-1": {"email": "n@example.com"}, "0-2": {"name": "Acme"}, "0-3": {"dealname": "D"}}
    rec = hubspot_client.crm.objects.basic_api.create(
        object_type, ObjectCreate(properties=props.get(object_type, {"name": "Widget"}))
    )
    assert rec is not None and rec.id


def test_line_item_amount_is_calculated(hubspot_client: hubspot.Client) -> None:
    """A line item's net price is quantity x (price - discount)."""
    rec = hubspot_client.crm.line_items.basic_api.create(
        hubspot.crm.line_items.SimplePublicObjectInputForCreate(
            properties={"name": "Widget", "quantity": "3", "price": "2.5", "hs_sku": "W-1"}
        )
    )
    assert rec.properties["amount"] == "7.5"


def test_company_uses_hs_lastmodifieddate(hubspot_client: hubspot.Client) -> None:
    """Companies carry hs_lastmodifieddate, contacts lastmodifieddate."""
    rec = hubspot_client.crm.companies.basic_api.create(
        hubspot.crm.companies.SimplePublicObjectInputForCreate(
            properties={"name": "Acme", "domain": "acme.io"}
        )
    )
    assert "hs_lastmodifieddate" in rec.properties and "lastmodifieddate" not in rec.properties


def test_unknown_object_type_is_bad_request(hubspot_client: hubspot.Client) -> None:
    """An unknown object type is a 400."""
    with pytest.raises(hubspot.crm.objects.ApiException) as info:
        hubspot_client.crm.objects.basic_api.get_page("widgets")
    assert info.value.status == 400
