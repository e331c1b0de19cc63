"""HubSpot emulator: the Properties API and unique-value properties."""

from __future__ import annotations

import json

import hubspot
import pytest
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.properties import ApiException, PropertyCreate, PropertyUpdate
from hubspot.crm.properties.exceptions import NotFoundException


def _b2connect_id(client: hubspot.Client, object_type: str = "contacts") -> object:
    return client.crm.properties.core_api.create(
        object_type,
        PropertyCreate(
            name="b2connect_id",
            label="B2Connect ID",
            type="string",
            field_type="text",
            group_name="contactinformation",
            has_unique_value=True,
        ),
    )


@pytest.mark.parametrize(
    ("object_type", "names"),
    [
        (
            "contacts",
            {
                "email",
                "firstname",
                "lastname",
                "phone",
                "company",
                "lifecyclestage",
                "hs_email_optout",
            },
        ),
        (
            "orders",
            {"hs_order_name", "hs_currency_code", "hs_total_price", "hs_fulfillment_status"},
        ),
        ("line_items", {"name", "quantity", "price", "hs_sku"}),
        ("companies", {"name", "domain"}),
        ("deals", {"dealname", "amount", "dealstage", "pipeline"}),
    ],
)
def test_seeded_properties(
    hubspot_client: hubspot.Client, object_type: str, names: set[str]
) -> None:
    """Each object type starts with HubSpot's usual properties."""
    resp = hubspot_client.crm.properties.core_api.get_all(object_type)
    assert resp is not None
    assert names <= {p.name for p in resp.results}


def test_b2connect_id_is_not_precreated(hubspot_client: hubspot.Client) -> None:
    """The sync must create b2connect_id itself."""
    with pytest.raises(NotFoundException):
        hubspot_client.crm.properties.core_api.get_by_name("contacts", "b2connect_id")


def test_get_property_by_name(hubspot_client: hubspot.Client) -> None:
    """A single property reads back with its type metadata."""
    prop = hubspot_client.crm.properties.core_api.get_by_name("contacts", "lifecyclestage")
    assert prop.type == "enumeration"
    assert "customer" in {o.value for o in prop.options}
    assert prop.modification_metadata.read_only_value is False


def test_create_unique_property_answers_201(hubspot_client: hubspot.Client) -> None:
    """Creating a property returns the ModelProperty with hasUniqueValue."""
    prop = _b2connect_id(hubspot_client)
    assert prop is not None
    assert prop.name == "b2connect_id" and prop.has_unique_value is True
    assert prop.hubspot_defined is False
    listed = hubspot_client.crm.properties.core_api.get_all("contacts").results
    assert "b2connect_id" in {p.name for p in listed}


def test_create_existing_property_is_conflict(hubspot_client: hubspot.Client) -> None:
    """Creating the same property twice is 409."""
    _b2connect_id(hubspot_client)
    with pytest.raises(ApiException) as info:
        _b2connect_id(hubspot_client)
    assert info.value.status == 409


def test_create_property_with_bad_name_is_rejected(hubspot_client: hubspot.Client) -> None:
    """Property names are lowercase identifiers."""
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.properties.core_api.create(
            "contacts",
            PropertyCreate(
                name="Bad Name", label="x", type="string", field_type="text", group_name="g"
            ),
        )
    assert info.value.status == 400


def test_unique_value_enforced_on_create_and_update(hubspot_client: hubspot.Client) -> None:
    """A second record with the same unique value is 409 on create and on update."""
    _b2connect_id(hubspot_client)
    api = hubspot_client.crm.contacts.basic_api
    first = api.create(SimplePublicObjectInputForCreate(properties={"b2connect_id": "C-1"}))
    with pytest.raises(ContactsApiException) as info:
        api.create(SimplePublicObjectInputForCreate(properties={"b2connect_id": "C-1"}))
    assert info.value.status == 409
    assert f"Existing ID: {first.id}" in json.loads(info.value.body)["message"]
    other = api.create(SimplePublicObjectInputForCreate(properties={"b2connect_id": "C-2"}))
    with pytest.raises(ContactsApiException) as again:
        api.update(other.id, SimplePublicObjectInput(properties={"b2connect_id": "C-1"}))
    assert again.value.status == 409


def test_get_by_unique_id_property(hubspot_client: hubspot.Client) -> None:
    """A unique property serves as idProperty on get."""
    _b2connect_id(hubspot_client)
    rec = hubspot_client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"b2connect_id": "C-7"})
    )
    got = hubspot_client.crm.contacts.basic_api.get_by_id("C-7", id_property="b2connect_id")
    assert got.id == rec.id


def test_update_and_archive_custom_property(hubspot_client: hubspot.Client) -> None:
    """Custom properties can be relabelled and archived; archived ones reject writes."""
    _b2connect_id(hubspot_client)
    api = hubspot_client.crm.properties.core_api
    updated = api.update("contacts", "b2connect_id", PropertyUpdate(label="Shop customer id"))
    assert updated.label == "Shop customer id"
    assert api.archive("contacts", "b2connect_id") is None
    with pytest.raises(ContactsApiException) as info:
        hubspot_client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"b2connect_id": "C-1"})
        )
    assert info.value.status == 400


def test_hubspot_defined_property_cannot_be_archived(hubspot_client: hubspot.Client) -> None:
    """Built-in properties stay."""
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.properties.core_api.archive("contacts", "email")
    assert info.value.status == 400
