"""HubSpot emulator: property history (``propertiesWithHistory``) names who set each value,
as HubSpot does: a user's CRM_UI change with ``userId:N``/``updatedByUserId``, an app's
INTEGRATION change with its app id."""

from __future__ import annotations

import hubspot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
)

from emulators.hubspot import HubSpotEmulator


def test_history_names_the_user_and_the_app(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """Created by the integration, then edited by user 4711: newest first, each with its
    source; the webhook-style sourceId of the edit is the same user."""
    created = hubspot_client.crm.contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[{"properties": {"email": "hist@example.org", "lastname": "Before"}}]
        )
    )
    rid = created.results[0].id
    hubspot_emulator.admin_patch("contacts", rid, {"properties": {"lastname": "After"},
                                                   "_userId": 4711})  # fmt: skip
    answer = hubspot_client.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": rid}], properties=["lastname"], properties_with_history=["lastname"]
        )
    )
    [row] = answer.results
    newest, oldest = row.properties_with_history["lastname"]
    assert (newest.value, newest.source_type, newest.source_id) == (
        "After",
        "CRM_UI",
        "userId:4711",
    )
    assert newest.updated_by_user_id == 4711
    assert (oldest.value, oldest.source_type) == ("Before", "INTEGRATION")
    assert oldest.source_id == str(hubspot_emulator.app_id)
    assert oldest.updated_by_user_id is None
