"""Consent in Salesforce: Contact opt-out checkboxes (``HasOptedOutOfEmail``, ``DoNotCall``,
``HasOptedOutOfFax``) and ContactPointTypeConsent records (see ``_consent_records``).

A ticked box is an opt-out; an unticked one is only the absence of an opt-out, so it comes
out as an *implicit* grant (the consent sync treats it as a decision only when it follows an
opt-out). Salesforce keeps no time per field: a change takes the Contact's
``SystemModstamp``. Writes update every Contact with the person's email (or the one named by
``ref``) by Id, 200 per ``composite/sobjects`` call, never creating a Contact: a person
Salesforce does not know fails with ``NOT_IN_CRM``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import structlog

from connectors.base import ConsentFact, ConsentPage, ConsentWrite
from connectors.records import Page, WriteResult
from connectors.salesforce._api import Api
from connectors.salesforce._consent_individual import write_individual
from connectors.salesforce._consent_records import RecordWriter, record_facts, update_boxes
from connectors.salesforce._read import lookup
from connectors.salesforce._values import iso_utc, parse_timestamp
from mapping import normalise_email
from mapping.config import SalesforceConsent

__all__ = ["consent_pages", "read_fields", "record_consent_pages", "unseen", "write_consents"]

log = structlog.get_logger(__name__)

CONTACT = "Contact"


def read_fields(mapping: SalesforceConsent, id_field: str) -> list[str]:
    """Contact fields a consent read needs."""
    return list(dict.fromkeys(["Email", id_field, *(f.field for f in mapping.fields)]))


def consent_pages(
    pages: Iterator[Page], mapping: SalesforceConsent, id_field: str
) -> Iterator[ConsentPage]:
    """Consent facts from pages of changed Contacts."""
    for page in pages:
        facts: list[ConsentFact] = []
        for record in page.records:
            if record.deleted:
                continue
            email = normalise_email(str(record.fields.get("Email") or "")) or None
            customer = record.fields.get(id_field) or None
            for spec in mapping.fields:
                opted_out = bool(record.fields.get(spec.field))
                facts.append(
                    ConsentFact(
                        channel=spec.channel,
                        purpose=spec.purpose,
                        status="withdrawn" if opted_out else "granted",
                        decided_at=record.updated_at,
                        email=email,
                        customer_id=str(customer) if customer else None,
                        implicit=not opted_out,
                        ref=record.key,
                    )
                )
        yield ConsentPage(facts, dict(page.cursor) if page.cursor else None)


def unseen(
    pages: Iterator[Page], seen: Mapping[str, str], overlap: dt.timedelta
) -> Iterator[tuple[Page, dict[str, str]]]:
    """Pages without the records already delivered at the same ``SystemModstamp``, each with
    the watermark to store beside its cursor.

    A change read re-reads the overlap margin before its cursor (commits become visible after
    their stamp), so without this every idle consent run would hand the unchanged consent facts
    of each record stamped in that margin to the consent sync again. The watermark maps record
    id -> stamp for the records stamped within the margin before the cursor: small, however
    many records the object has."""
    marks = dict(seen)
    for page in pages:
        fresh = [
            r
            for r in page.records
            if r.updated_at is None or marks.get(r.key) != iso_utc(r.updated_at)
        ]
        for record in fresh:
            if record.updated_at is not None:
                marks[record.key] = iso_utc(record.updated_at)
        ts = (page.cursor or {}).get("ts")
        if ts:
            floor = parse_timestamp(str(ts)) - overlap
            marks = {k: v for k, v in marks.items() if parse_timestamp(v) >= floor}
        yield dataclasses.replace(page, records=fresh), dict(marks)


def record_consent_pages(
    api: Api, pages: Iterator[Page], mapping: SalesforceConsent, id_field: str
) -> Iterator[ConsentPage]:
    """Consent facts from pages of changed ContactPointTypeConsent records."""
    for page in pages:
        facts = record_facts(api, page, mapping, id_field)
        yield ConsentPage(facts, dict(page.cursor) if page.cursor else None)


def write_consents(
    api: Api, mapping: SalesforceConsent, writes: Sequence[ConsentWrite]
) -> list[WriteResult]:
    """Checkboxes and/or consent records of the person's Contacts; one result per write."""
    emails = [w.email for w in writes if w.email]
    found = lookup(api, CONTACT, "Email", emails) if emails else {}
    boxes = _write_boxes(api, mapping, writes, found)
    records = RecordWriter(api, mapping).write(writes, found)
    individual = write_individual(api, mapping, writes, found)
    out: list[WriteResult] = []
    for write in writes:
        parts = [
            r
            for r in (boxes.get(write.key), records.get(write.key), individual.get(write.key))
            if r is not None
        ]
        if not parts:
            out.append(_fail(write, "NOT_MAPPED", "no Salesforce field or record for this purpose"))
        else:
            out.append(next((r for r in parts if not r.ok), parts[0]))
    failed = sum(1 for r in out if not r.ok)
    log.info("salesforce.consents_written", writes=len(writes), failed=failed)
    return out


def _write_boxes(
    api: Api,
    mapping: SalesforceConsent,
    writes: Sequence[ConsentWrite],
    found: Mapping[str, list[str]],
) -> dict[str, WriteResult]:
    """Tick or untick the mapped checkbox on the person's Contacts."""
    fields: dict[tuple[str, str], str] = {(f.channel, f.purpose): f.field for f in mapping.fields}
    results: dict[str, WriteResult] = {}
    #: contact id -> (field values, keys of the writes they come from)
    changes: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for write in writes:
        field = fields.get((write.channel, write.purpose))
        if field is None:
            continue
        if write.status not in ("granted", "withdrawn"):
            results[write.key] = _fail(write, "NOT_A_DECISION", f"status {write.status}")
            continue
        ids = set(found.get((write.email or "").strip().lower(), []))
        if write.ref:
            ids.add(write.ref)
        if not ids:
            results[write.key] = _fail(write, "NOT_IN_CRM", "Salesforce has no Contact for them")
            continue
        for cid in sorted(ids):
            values, keys = changes.setdefault(cid, ({}, []))
            values[field] = write.status == "withdrawn"
            keys.append(write.key)
    results.update(update_boxes(api, CONTACT, changes, "consent"))
    return results


def _fail(write: ConsentWrite, code: str, message: str) -> WriteResult:
    return WriteResult.failure(write.key, code, message)
