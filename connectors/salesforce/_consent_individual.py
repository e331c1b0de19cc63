"""Consent as the privacy checkboxes of the person's Individual (Data Protection & Privacy).

``Individual.HasOptedOutProcessing`` (Don't Process), ``HasOptedOutTracking`` (Don't Track)
and their siblings are objections a Salesforce user records on the person's Individual,
which Contacts point to through ``Contact.IndividualId``. Like the Contact checkboxes, a
ticked box is an opt-out and an unticked one only the absence of one (an *implicit* grant),
timed by the Individual's ``SystemModstamp``.

Reading maps each changed Individual to its Contacts (one fact per Contact and mapped box,
one SOQL query a page). Writing finds the person's Contacts (by email or ``ref``), gives a
Contact without an Individual one (as the consent records do), then ticks or unticks the
mapped boxes on those Individuals, 200 per ``composite/sobjects`` call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from connectors.base import ConsentFact, ConsentPage, ConsentWrite
from connectors.records import Page, WriteResult
from connectors.salesforce._api import Api
from connectors.salesforce._consent_records import RecordWriter, contact_rows, update_boxes
from mapping import normalise_email
from mapping.config import SalesforceConsent

__all__ = ["INDIVIDUAL", "individual_pages", "individual_read_fields", "write_individual"]

INDIVIDUAL = "Individual"


def individual_read_fields(mapping: SalesforceConsent) -> list[str]:
    """Individual fields a consent read needs."""
    return list(dict.fromkeys(f.field for f in mapping.individual))


def individual_pages(
    api: Api, pages: Iterator[Page], mapping: SalesforceConsent, id_field: str
) -> Iterator[ConsentPage]:
    """Consent facts from pages of changed Individuals."""
    for page in pages:
        yield ConsentPage(
            _facts(api, page, mapping, id_field), dict(page.cursor) if page.cursor else None
        )


def _facts(api: Api, page: Page, mapping: SalesforceConsent, id_field: str) -> list[ConsentFact]:
    live = [r for r in page.records if not r.deleted]
    if not live or not mapping.individual:
        return []
    fields = ["Id", "Email", id_field, "IndividualId"]
    contacts: dict[str, list[dict[str, Any]]] = {}
    for row in contact_rows(api, fields, "IndividualId", [r.key for r in live]):
        contacts.setdefault(str(row.get("IndividualId")), []).append(row)
    facts: list[ConsentFact] = []
    for record in live:
        for contact in contacts.get(record.key, []):
            customer = contact.get(id_field)
            for spec in mapping.individual:
                opted_out = bool(record.fields.get(spec.field))
                facts.append(
                    ConsentFact(
                        channel=spec.channel,
                        purpose=spec.purpose,
                        status="withdrawn" if opted_out else "granted",
                        decided_at=record.updated_at,
                        email=normalise_email(str(contact.get("Email") or "")) or None,
                        customer_id=str(customer) if customer else None,
                        implicit=not opted_out,
                        ref=str(contact["Id"]),
                    )
                )
    return facts


def write_individual(
    api: Api,
    mapping: SalesforceConsent,
    writes: Sequence[ConsentWrite],
    found: Mapping[str, list[str]],
) -> dict[str, WriteResult]:
    """Tick or untick the mapped boxes on the person's Individuals; one result per write
    whose channel/purpose is mapped (``found``: lower-cased email -> Contact ids)."""
    boxes: dict[tuple[str, str], str] = {
        (f.channel, f.purpose): f.field for f in mapping.individual
    }
    mine = [w for w in writes if (w.channel, w.purpose) in boxes]
    if not mine:
        return {}
    parties = _individuals(api, mapping, mine, found)
    results: dict[str, WriteResult] = {}
    #: Individual id -> (field values, keys of the writes they come from)
    changes: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for write in mine:
        if write.status not in ("granted", "withdrawn"):
            results[write.key] = WriteResult.failure(
                write.key, "NOT_A_DECISION", f"status {write.status}"
            )
        elif not parties.get(write.key):
            results[write.key] = WriteResult.failure(
                write.key, "NOT_IN_CRM", "Salesforce has no Contact/Individual for them"
            )
        for iid in parties.get(write.key, []) if write.key not in results else []:
            values, keys = changes.setdefault(iid, ({}, []))
            values[boxes[(write.channel, write.purpose)]] = write.status == "withdrawn"
            keys.append(write.key)
    results.update(update_boxes(api, INDIVIDUAL, changes, "Individual"))
    return results


def _individuals(
    api: Api,
    mapping: SalesforceConsent,
    writes: Sequence[ConsentWrite],
    found: Mapping[str, list[str]],
) -> dict[str, list[str]]:
    """Write key -> every Individual of the person's Contacts (given one where missing)."""
    people = RecordWriter(api, mapping).people(writes, found)
    every = {cid for person in people.values() for cid in person.contact_ids}
    of_contact = {
        str(row["Id"]): str(row["IndividualId"])
        for row in contact_rows(api, ["Id", "IndividualId"], "Id", every)
        if row.get("IndividualId")
    }
    return {
        key: sorted({of_contact[c] for c in person.contact_ids if c in of_contact})
        for key, person in people.items()
    }
