"""A property's groupName must name an existing property group (HubSpot answers 400)."""

from __future__ import annotations

import json
from collections.abc import Callable

import hubspot
import pytest
from hubspot.crm.properties import ApiException, PropertyCreate, PropertyGroupCreate

from connectors.records import WriteItem
from emulators.hubspot import HubSpotEmulator
from tests.connectors.hubspot_support import calls, connector
from tests.fixtures.hubspot import hubspot_client_for

Factory = Callable[..., HubSpotEmulator]


def _prop(group: str, name: str = "b2connect_id") -> PropertyCreate:
    return PropertyCreate(
        name=name,
        label="B2Connect id",
        type="string",
        field_type="text",
        group_name=group,
        has_unique_value=True,
    )


def test_unknown_group_is_a_400(hubspot_client: hubspot.Client) -> None:
    """Creating a property in a group the portal does not have is a 400 VALIDATION_ERROR."""
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.properties.core_api.create("contacts", _prop("no_such_group"))
    assert info.value.status == 400
    body = json.loads(info.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert "no_such_group" in body["message"]


@pytest.mark.parametrize(
    ("object_type", "group"),
    [
        ("contacts", "contactinformation"),
        ("companies", "companyinformation"),
        ("line_items", "lineiteminformation"),
        ("orders", "orderinformation"),
    ],
)
def test_default_groups_exist(hubspot_client: hubspot.Client, object_type: str, group: str) -> None:
    """Each object type has its own default group, and a property can go into it."""
    found = hubspot_client.crm.properties.groups_api.get_by_name(object_type, group)
    assert found.name == group
    made = hubspot_client.crm.properties.core_api.create(object_type, _prop(group))
    assert made.group_name == group


def test_created_group_accepts_properties(hubspot_client: hubspot.Client) -> None:
    """A group created through the groups API is usable at once; a second create is a 409."""
    api = hubspot_client.crm.properties.groups_api
    api.create("contacts", PropertyGroupCreate(name="b2sync", label="b2sync"))
    with pytest.raises(ApiException) as info:
        api.create("contacts", PropertyGroupCreate(name="b2sync", label="b2sync"))
    assert info.value.status == 409
    assert hubspot_client.crm.properties.core_api.create("contacts", _prop("b2sync")).group_name


def test_setup_uses_the_default_group(hubspot_emulator: HubSpotEmulator) -> None:
    """The first write creates the id property in the object's default group."""
    conn = connector(hubspot_emulator)
    assert conn.write("contacts", [WriteItem("k1", {"email": "a@example.com"})])[0].ok
    prop = hubspot_emulator.store.properties["contacts"]["b2connect_id"]
    assert prop.group_name == "contactinformation"
    assert "POST /crm/v3/properties/{object_type}/groups" not in calls(hubspot_emulator)


def test_setup_creates_its_group_when_the_default_is_gone(
    hubspot_emulator_factory: Factory,
) -> None:
    """A portal without the default group gets b2sync's own group, then the property."""
    emu = hubspot_emulator_factory()
    del emu.store.groups["contacts"]["contactinformation"]
    conn = connector(emu)
    assert conn.write("contacts", [WriteItem("k1", {"email": "a@example.com"})])[0].ok
    assert emu.store.properties["contacts"]["b2connect_id"].group_name == "b2sync"
    assert "b2sync" in emu.store.groups["contacts"]
    # a second connector finds the group there (409) and goes on
    del emu.store.properties["contacts"]["b2connect_id"]
    other = connector(emu)
    assert other.write("contacts", [WriteItem("k2", {"email": "b@example.com"})])[0].ok
    assert emu.store.properties["contacts"]["b2connect_id"].group_name == "b2sync"


def test_group_routes_through_the_sdk(hubspot_emulator: HubSpotEmulator) -> None:
    """The groups list answers through the SDK's GroupsApi."""
    client = hubspot_client_for(hubspot_emulator)
    names = {g.name for g in client.crm.properties.groups_api.get_all("contacts").results}
    assert "contactinformation" in names
