"""Support and satisfaction touchpoints through the real SDKs: HubSpot tickets and feedback
submissions, Salesforce Cases, in the emulators and as the connectors read them."""

from __future__ import annotations

from collections.abc import Iterator

import hubspot
import pytest
import requests
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.tickets import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from simple_salesforce.api import Salesforce

from connectors.salesforce import SalesforceConnector
from emulators.hubspot import HubSpotEmulator
from emulators.salesforce import SalesforceEmulator
from tests.connectors.hubspot_support import calls, connector
from tests.connectors.salesforce_support import connect

TICKET_TO_CONTACT = 16


def _contact(emu: HubSpotEmulator, email: str) -> str:
    return str(emu.admin_create("contacts", {"properties": {"email": email}})["id"])


def _ticket(client: hubspot.Client, contact: str, stage: str = "1") -> str:
    body = SimplePublicObjectInputForCreate(
        properties={"subject": "Parcel late", "hs_pipeline": "0", "hs_pipeline_stage": stage},
        associations=[
            {
                "to": {"id": contact},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 16}],
            }
        ],
    )
    return str(client.crm.tickets.basic_api.create(simple_public_object_input_for_create=body).id)


def _answer(emu: HubSpotEmulator, contact: str, score: int, when: str, kind: str = "NPS") -> str:
    """A survey answer as HubSpot's survey tool records it (the API cannot create one)."""
    props = {
        "hs_survey_type": kind,
        "hs_value": str(score),
        "hs_submission_timestamp": when,
        "hs_content": "Kommentar mit Namen",
        "hs_contact_id": contact,
    }
    answer = str(emu.admin_create("feedback_submissions", {"properties": props})["id"])
    link = {"fromObjectType": "feedback_submissions", "fromObjectId": answer}
    emu.admin_create("associations", {**link, "toObjectType": "contacts", "toObjectId": contact})
    return answer


def test_ticket_close_date_follows_the_stage(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """Closing a ticket sets closed_date, reopening clears it; it is read-only for apps."""
    contact = _contact(hubspot_emulator, "t1@example.org")
    ticket = _ticket(hubspot_client, contact)
    api = hubspot_client.crm.tickets.basic_api

    assert not api.get_by_id(ticket, properties=["closed_date"]).properties.get("closed_date")
    api.update(ticket, SimplePublicObjectInput(properties={"hs_pipeline_stage": "4"}))
    closed = api.get_by_id(ticket, properties=["closed_date", "hs_pipeline"]).properties
    api.update(ticket, SimplePublicObjectInput(properties={"hs_pipeline_stage": "3"}))
    reopened = api.get_by_id(ticket, properties=["closed_date"]).properties

    assert closed["closed_date"] and closed["hs_pipeline"] == "0"
    assert not reopened.get("closed_date")
    with pytest.raises(hubspot.crm.tickets.ApiException) as err:
        api.update(ticket, SimplePublicObjectInput(properties={"closed_date": "2026-01-01"}))
    assert err.value.status == 400 and "READ_ONLY_VALUE" in str(err.value.body)


def test_tickets_are_associated_to_contacts(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """The v4 batch read lists a contact's tickets (contact -> ticket type 15)."""
    contact = _contact(hubspot_emulator, "t2@example.org")
    ticket = _ticket(hubspot_client, contact)

    page = hubspot_client.crm.associations.v4.batch_api.get_page(
        "contacts", "tickets", BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": contact}])
    )  # fmt: skip

    [row] = page.results
    assert [(str(t.to_object_id), t.association_types[0].type_id) for t in row.to] == [(ticket, 15)]


def test_feedback_submissions_are_read_only(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """The SDK reads survey answers; a create through the API is refused (405)."""
    contact = _contact(hubspot_emulator, "t3@example.org")
    answer = _answer(hubspot_emulator, contact, 9, "2026-11-02T10:00:00Z")

    page = hubspot_client.crm.objects.feedback_submissions.basic_api.get_page(
        properties=["hs_survey_type", "hs_value"]
    )
    refused = requests.post(
        f"{hubspot_emulator.url}/crm/v3/objects/feedback_submissions",
        json={"properties": {"hs_survey_type": "NPS", "hs_value": "10"}},
        headers={"Authorization": f"Bearer {hubspot_emulator.token}"},
        timeout=10,
    )

    assert [(r.id, r.properties["hs_value"]) for r in page.results] == [(answer, "9")]
    assert refused.status_code == 405
    assert len(hubspot_emulator.admin_list("feedback_submissions")) == 1


def test_hubspot_connector_reads_tickets_and_nps_answers_only(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """Per contact: its tickets (open/closed) and NPS answers; CSAT answers and contacts
    without any are left out; four calls for two contacts (2 association reads, 2 reads)."""
    a, b, c = (_contact(hubspot_emulator, f"t{i}@example.org") for i in (4, 5, 6))
    open_ticket, closed_ticket = _ticket(hubspot_client, a), _ticket(hubspot_client, a, "4")
    nps = _answer(hubspot_emulator, a, 3, "2026-11-02T10:00:00Z")
    _answer(hubspot_emulator, b, 2, "2026-11-03T10:00:00Z", kind="CSAT")
    hubspot_emulator.calls.clear()
    conn = connector(hubspot_emulator)
    try:
        found = conn.read_touchpoints("contacts", [a, b, c])
    finally:
        conn.close()

    assert set(found) == {a}
    got = {(p.kind, p.item_id, p.closed, p.score) for p in found[a]}
    assert got == {
        ("ticket", open_ticket, False, None),
        ("ticket", closed_ticket, True, None),
        ("nps", nps, True, 3),
    }
    counts = calls(hubspot_emulator)
    assert counts["POST /crm/v4/associations/{from_type}/{to_type}/batch/read"] == 2
    assert counts["POST /crm/v3/objects/{object_type}/batch/read"] == 2


@pytest.fixture
def sf_connector(salesforce_emulator: SalesforceEmulator) -> Iterator[SalesforceConnector]:
    conn = connect(salesforce_emulator)
    yield conn
    conn.close()


def test_case_status_drives_is_closed_and_closed_date(sf: Salesforce) -> None:
    """A new Case gets a number and is open; Status Closed sets IsClosed and ClosedDate."""
    contact = sf.Contact.create({"LastName": "Muster", "Email": "c1@example.org"})["id"]
    case = sf.Case.create({"ContactId": contact, "Subject": "Broken lid", "Origin": "Web"})["id"]
    fresh = sf.Case.get(case)
    sf.Case.update(case, {"Status": "Closed"})
    closed = sf.Case.get(case)

    assert fresh["Status"] == "New" and fresh["IsClosed"] is False and fresh["CaseNumber"]
    assert closed["IsClosed"] is True and closed["ClosedDate"]
    rows = sf.query(f"SELECT Id, IsClosed FROM Case WHERE ContactId = '{contact}'")["records"]
    assert [(r["Id"], r["IsClosed"]) for r in rows] == [(case, True)]


def test_salesforce_connector_reads_cases_by_contact(
    sf: Salesforce, sf_connector: SalesforceConnector
) -> None:
    """Cases come back per ContactId with open/closed; contacts without cases are left out."""
    a = sf.Contact.create({"LastName": "A", "Email": "a@example.org"})["id"]
    b = sf.Contact.create({"LastName": "B", "Email": "b@example.org"})["id"]
    open_case = sf.Case.create({"ContactId": a, "Subject": "x"})["id"]
    closed_case = sf.Case.create({"ContactId": a, "Subject": "y", "Status": "Closed"})["id"]

    found = sf_connector.read_touchpoints("Contact", [a, b])

    assert set(found) == {a}
    assert {(p.kind, p.item_id, p.closed) for p in found[a]} == {
        ("ticket", open_case, False),
        ("ticket", closed_case, True),
    }
