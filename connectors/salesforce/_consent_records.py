"""Consent as ContactPointTypeConsent records on the person's Individual.

Salesforce's Data Protection & Privacy model: a Contact points to an ``Individual``
(``IndividualId``); each ``ContactPointTypeConsent`` (``PartyId`` = the Individual) holds
``PrivacyConsentStatus`` (OptIn, OptOut, Seen, NotSeen) for a ``ContactPointType`` (Email,
Phone, MailingAddress) and a ``DataUsePurpose``, with ``CaptureDate`` and ``CaptureSource``.

Reading maps each changed record to the Contacts of its Individual (one fact per Contact,
timed by the record's ``SystemModstamp``: an edit of the status rarely moves ``CaptureDate``). Writing finds the person's Contacts by email, gives a Contact
without an Individual one (named after the Contact), creates a missing DataUsePurpose, then
updates or creates the consent record; every call is a ``composite/sobjects`` batch or one
SOQL query, never one call per person.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simple_salesforce.api import Salesforce

from connectors.base import ConsentFact, ConsentWrite
from connectors.records import Page, WriteResult
from connectors.salesforce._api import Api
from connectors.salesforce._read import LOOKUP_CHARS
from connectors.salesforce._values import iso_utc, parse_timestamp
from connectors.salesforce._write import COLLECTION_SIZE, _send, chunks, result_from
from connectors.salesforce.soql import in_clauses, select
from mapping import normalise_email
from mapping.config import SalesforceConsent, SalesforceConsentRecord

__all__ = [
    "CONSENT_OBJECT",
    "READ_FIELDS",
    "RecordWriter",
    "contact_rows",
    "record_facts",
    "update_boxes",
]

CONSENT_OBJECT = "ContactPointTypeConsent"
READ_FIELDS = [
    "PartyId",
    "ContactPointType",
    "PrivacyConsentStatus",
    "DataUsePurposeId",
    "CaptureDate",
]
_STATUS_IN = {"OptIn": "granted", "OptOut": "withdrawn"}
_STATUS_OUT = {"granted": "OptIn", "withdrawn": "OptOut"}


def _rows(
    api: Api, fields: Sequence[str], sobject: str, field: str, values: Iterable[str]
) -> list[dict[str, Any]]:
    wanted = sorted(set(values))
    out: list[dict[str, Any]] = []
    for _chunk, condition in in_clauses(field, wanted, max_chars=LOOKUP_CHARS):
        soql = f"{select(fields, sobject)} WHERE {condition}"
        out.extend(api.call(_query(soql)))
    return out


def contact_rows(
    api: Api, fields: Sequence[str], field: str, values: Iterable[str]
) -> list[dict[str, Any]]:
    """Contacts whose ``field`` is one of ``values`` (one query per chunk of values)."""
    return _rows(api, fields, "Contact", field, values)


def _query(soql: str) -> Callable[[Salesforce], list[dict[str, Any]]]:
    return lambda sf: list(sf.query_all_iter(soql))


def _when(raw: Any, fallback: datetime | None) -> datetime | None:
    if isinstance(raw, str) and raw:
        try:
            return parse_timestamp(raw)
        except ValueError:
            return fallback
    return fallback


def record_facts(
    api: Api, page: Page, mapping: SalesforceConsent, id_field: str
) -> list[ConsentFact]:
    """Facts of one page of changed ContactPointTypeConsent records."""
    live = [r for r in page.records if not r.deleted]
    if not live or not mapping.consent_records:
        return []
    purpose_ids = {
        str(r.fields.get("DataUsePurposeId")) for r in live if r.fields.get("DataUsePurposeId")
    }
    names = {
        str(row["Id"]): str(row.get("Name") or "")
        for row in _rows(api, ["Id", "Name"], "DataUsePurpose", "Id", purpose_ids)
    }
    parties = {str(r.fields.get("PartyId")) for r in live if r.fields.get("PartyId")}
    contacts: dict[str, list[dict[str, Any]]] = {}
    fields = ["Id", "Email", id_field, "IndividualId"]
    for row in _rows(api, fields, "Contact", "IndividualId", parties):
        contacts.setdefault(str(row.get("IndividualId")), []).append(row)
    specs = {(r.contact_point_type, r.data_use_purpose): r for r in mapping.consent_records}
    facts: list[ConsentFact] = []
    for record in live:
        name = names.get(str(record.fields.get("DataUsePurposeId")), "")
        spec = specs.get((str(record.fields.get("ContactPointType")), name))
        if spec is None:
            continue
        status = _STATUS_IN.get(str(record.fields.get("PrivacyConsentStatus")), "unknown")
        # the change happened when the record changed: someone editing the status in
        # Salesforce rarely moves CaptureDate, and our own writes stamp the decision's time
        when = record.updated_at or _when(record.fields.get("CaptureDate"), None)
        for contact in contacts.get(str(record.fields.get("PartyId")), []):
            customer = contact.get(id_field)
            facts.append(
                ConsentFact(
                    channel=spec.channel,
                    purpose=spec.purpose,
                    status=status,
                    decided_at=when,
                    email=normalise_email(str(contact.get("Email") or "")) or None,
                    customer_id=str(customer) if customer else None,
                    ref=str(contact["Id"]),
                )
            )
    return facts


@dataclass
class _Person:
    contact_ids: list[str]
    individual_id: str | None


class RecordWriter:
    """Writes decisions as ContactPointTypeConsent records; one result per write."""

    def __init__(self, api: Api, mapping: SalesforceConsent) -> None:
        self.api = api
        self.specs: dict[tuple[str, str], SalesforceConsentRecord] = {
            (r.channel, r.purpose): r for r in mapping.consent_records
        }

    def write(
        self, writes: Sequence[ConsentWrite], found: Mapping[str, list[str]]
    ) -> dict[str, WriteResult]:
        """``found``: lower-cased email -> Contact ids (from the lookup the caller made)."""
        mine = [w for w in writes if (w.channel, w.purpose) in self.specs]
        if not mine:
            return {}
        people = self.people(mine, found)
        purposes = self._purposes(
            {self.specs[(w.channel, w.purpose)].data_use_purpose for w in mine}
        )
        parties = {p.individual_id for p in people.values() if p.individual_id}
        existing = {
            (str(r["PartyId"]), str(r["ContactPointType"]), str(r["DataUsePurposeId"])): str(
                r["Id"]
            )
            for r in _rows(
                self.api,
                ["Id", "PartyId", "ContactPointType", "DataUsePurposeId"],
                CONSENT_OBJECT,
                "PartyId",
                parties,
            )
        }
        results: dict[str, WriteResult] = {}
        updates: list[tuple[str, dict[str, Any]]] = []
        creates: list[tuple[str, dict[str, Any]]] = []
        for write in mine:
            person = people.get(write.key)
            spec = self.specs[(write.channel, write.purpose)]
            purpose_id = purposes.get(spec.data_use_purpose)
            if person is None or person.individual_id is None or purpose_id is None:
                results[write.key] = WriteResult.failure(
                    write.key, "NOT_IN_CRM", "Salesforce has no Contact/Individual for them"
                )
                continue
            values = self._values(write, spec)
            rid = existing.get((person.individual_id, spec.contact_point_type, purpose_id))
            if rid is not None:
                updates.append(
                    (write.key, {"attributes": {"type": CONSENT_OBJECT}, "id": rid, **values})
                )
            else:
                creates.append(
                    (
                        write.key,
                        {
                            "attributes": {"type": CONSENT_OBJECT},
                            "Name": f"{spec.contact_point_type} {spec.data_use_purpose}"[:255],
                            "PartyId": person.individual_id,
                            "ContactPointType": spec.contact_point_type,
                            "DataUsePurposeId": purpose_id,
                            **values,
                        },
                    )
                )
        results.update(self._send(updates, "PATCH"))
        results.update(self._send(creates, "POST"))
        return results

    def _values(self, write: ConsentWrite, spec: SalesforceConsentRecord) -> dict[str, Any]:
        del spec
        return {
            "PrivacyConsentStatus": _STATUS_OUT[write.status],
            "CaptureDate": iso_utc(write.decided_at),
            "CaptureSource": f"b2sync:{write.source_system}"[:255],
        }

    def _send(self, items: list[tuple[str, dict[str, Any]]], method: str) -> dict[str, WriteResult]:
        out: dict[str, WriteResult] = {}
        for chunk in chunks(items, COLLECTION_SIZE):
            records = [body for _, body in chunk]
            answer = (
                _post(self.api, records)
                if method == "POST"
                else _send(self.api, "composite/sobjects", records)
            )
            for (key, _), raw in zip(chunk, _answers(answer, len(chunk)), strict=True):
                out[key] = result_from(key, raw)
        return out

    def people(
        self, writes: Sequence[ConsentWrite], found: Mapping[str, list[str]]
    ) -> dict[str, _Person]:
        """Write key -> the person's Contacts and Individual (created when missing)."""
        ids: dict[str, list[str]] = {}
        for write in writes:
            contact_ids = set(found.get(normalise_email(write.email or ""), []))
            if write.ref:
                contact_ids.add(write.ref)
            if contact_ids:
                ids[write.key] = sorted(contact_ids)
        every = {cid for cids in ids.values() for cid in cids}
        rows = {
            str(r["Id"]): r
            for r in _rows(
                self.api, ["Id", "IndividualId", "FirstName", "LastName"], "Contact", "Id", every
            )
        }
        self._give_individuals(
            [rows[c] for c in sorted(every) if c in rows and not rows[c].get("IndividualId")]
        )
        people: dict[str, _Person] = {}
        for key, cids in ids.items():
            individual = next(
                (
                    str(rows[c]["IndividualId"])
                    for c in cids
                    if c in rows and rows[c].get("IndividualId")
                ),
                None,
            )
            people[key] = _Person(cids, individual)
        return people

    def _give_individuals(self, contacts: list[dict[str, Any]]) -> None:
        """Create an Individual for each Contact without one and link it (two batch calls)."""
        for chunk in chunks(contacts, COLLECTION_SIZE):
            bodies = [
                {
                    "attributes": {"type": "Individual"},
                    "FirstName": row.get("FirstName"),
                    "LastName": row.get("LastName") or "(unknown)",
                }
                for row in chunk
            ]
            created = _answers(_post(self.api, bodies), len(chunk))
            links = []
            for row, raw in zip(chunk, created, strict=True):
                if raw.get("success") and raw.get("id"):
                    row["IndividualId"] = str(raw["id"])
                    links.append(
                        {
                            "attributes": {"type": "Contact"},
                            "id": row["Id"],
                            "IndividualId": row["IndividualId"],
                        }
                    )
            if links:
                _send(self.api, "composite/sobjects", links)

    def _purposes(self, names: set[str]) -> dict[str, str]:
        """DataUsePurpose id by name, creating missing ones."""
        found = {
            str(r.get("Name")): str(r["Id"])
            for r in _rows(self.api, ["Id", "Name"], "DataUsePurpose", "Name", names)
        }
        missing = sorted(names - set(found))
        if missing:
            bodies = [{"attributes": {"type": "DataUsePurpose"}, "Name": n} for n in missing]
            for name, raw in zip(
                missing, _answers(_post(self.api, bodies), len(missing)), strict=True
            ):
                if raw.get("success") and raw.get("id"):
                    found[name] = str(raw["id"])
        return found


def update_boxes(
    api: Api, sobject: str, changes: Mapping[str, tuple[dict[str, Any], list[str]]], what: str
) -> dict[str, WriteResult]:
    """Update the ``sobject`` records of ``changes`` (record id -> (field values, keys of the
    writes they come from)), 200 a call; one result per write key, failed when one of its
    records failed (``what`` names the records in the unexpected-body error)."""
    results: dict[str, WriteResult] = {}
    ids = list(changes)
    for chunk in chunks(ids, COLLECTION_SIZE):
        records = [{"attributes": {"type": sobject}, "id": rid, **changes[rid][0]} for rid in chunk]
        answer = _send(api, "composite/sobjects", records)
        if isinstance(answer, list) and len(answer) == len(chunk):
            outcomes = [result_from(rid, raw) for rid, raw in zip(chunk, answer, strict=True)]
        else:
            message = f"Salesforce answered the {what} update with an unexpected body"
            outcomes = [WriteResult.failure(rid, "BODY", message, retriable=True) for rid in chunk]
        for rid, outcome in zip(chunk, outcomes, strict=True):
            for key in changes[rid][1]:
                if key not in results or results[key].ok:
                    results[key] = WriteResult(key, outcome.ok, rid, False, outcome.error)
    return results


def _post(api: Api, records: list[dict[str, Any]]) -> Any:
    return api.call(
        lambda sf: sf.restful(
            "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
        )
    )


def _answers(answer: Any, count: int) -> list[dict[str, Any]]:
    if isinstance(answer, list) and len(answer) == count:
        return [a if isinstance(a, dict) else {} for a in answer]
    error = {"success": False, "errors": [{"statusCode": "BODY", "message": "unexpected answer"}]}
    return [error] * count
