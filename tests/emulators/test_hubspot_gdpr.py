"""HubSpot emulator: GDPR delete (permanent, blocklisting the email)."""

from __future__ import annotations

import json

import hubspot
import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputUpsert,
    PublicGdprDeleteInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import NotFoundException

from emulators.hubspot import HubSpotEmulator


def test_purge_by_id_answers_204_and_removes_for_good(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """The contact is gone: no get, not among archived records, not in the admin list."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "gone@example.com"}})
    result = hubspot_client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id=rec["id"]))
    assert result is None
    with pytest.raises(NotFoundException):
        hubspot_client.crm.contacts.basic_api.get_by_id(rec["id"], archived=True)
    assert hubspot_client.crm.contacts.basic_api.get_page(archived=True).results == []
    assert hubspot_emulator.records("contacts") == []


def test_purge_by_email(hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator) -> None:
    """idProperty=email identifies the contact by email."""
    hubspot_emulator.admin_create("contacts", {"properties": {"email": "byemail@example.com"}})
    hubspot_client.crm.contacts.basic_api.purge(
        PublicGdprDeleteInput(object_id="ByEmail@example.com", id_property="email")
    )
    assert hubspot_emulator.records("contacts") == []


def test_purge_of_archived_contact(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """An archived contact can still be GDPR-deleted."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "ar@example.com"}})
    hubspot_client.crm.contacts.basic_api.archive(rec["id"])
    hubspot_client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id=rec["id"]))
    assert hubspot_emulator.records("contacts") == []


def test_purge_unknown_id_is_not_found(hubspot_client: hubspot.Client) -> None:
    """An unknown contact id is a 404."""
    with pytest.raises(NotFoundException):
        hubspot_client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id="123456"))


def test_deleted_email_is_blocklisted_for_create(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """Creating a contact with a GDPR-deleted email is a 400 VALIDATION_ERROR naming GDPR."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "block@example.com"}})
    hubspot_client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id=rec["id"]))
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "block@example.com"})
        )
    body = json.loads(info.value.body)
    assert info.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert "GDPR" in body["message"]


def test_unknown_email_is_blocklisted_too(hubspot_client: hubspot.Client) -> None:
    """A GDPR delete by email with no contact still blocklists the address for upserts."""
    hubspot_client.crm.contacts.basic_api.purge(
        PublicGdprDeleteInput(object_id="never@example.com", id_property="email")
    )
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.contacts.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[{"id": "never@example.com", "idProperty": "email", "properties": {}}]
            )
        )
    assert info.value.status == 400
