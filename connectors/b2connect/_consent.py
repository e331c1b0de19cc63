"""Consent in B2Connect: the ``consents`` delta feed in, ``POST /api/crm/consents`` out.

B2Connect's consent vocabulary is the canonical one (channels email/sms/phone/post,
statuses granted/withdrawn/unknown, legal bases consent/contract/legitimate_interest/
legal_obligation), so facts pass through unchanged. B2Connect upserts on subject, channel
and purpose; a decision relayed from a CRM keeps its own time in ``capturedAt`` and names
its origin in ``source``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC
from typing import Any

import structlog

from connectors.b2connect._delta import DeltaReader, parse_datetime
from connectors.b2connect._write import BackWriter
from connectors.base import ConsentFact, ConsentPage, ConsentWrite
from connectors.records import Record, WriteItem, WriteResult

__all__ = ["consent_payload", "read_consents", "to_fact", "write_consents"]

log = structlog.get_logger(__name__)

LEGAL_BASES = frozenset({"consent", "contract", "legitimate_interest", "legal_obligation"})
STATUSES = frozenset({"granted", "withdrawn", "unknown"})


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def to_fact(record: Record) -> ConsentFact | None:
    """The fact of one consent change; None for deletions and malformed changes."""
    if record.deleted or record.key.startswith("invalid:"):
        return None
    data = record.fields
    status = data.get("status")
    if status not in STATUSES or not data.get("channel") or not data.get("purpose"):
        return None
    decided = parse_datetime(data.get("capturedAt")) or record.updated_at
    return ConsentFact(
        channel=str(data["channel"]),
        purpose=str(data["purpose"]),
        status=str(status),
        decided_at=decided,
        email=_text(data.get("email")),
        customer_id=_text(data.get("subjectId")),
        legal_basis=_text(data.get("legalBasis")),
        wording_version=_text(data.get("wordingVersion")),
        ref=record.key,
    )


def read_consents(reader: DeltaReader, cursor: Mapping[str, Any] | None) -> Iterator[ConsentPage]:
    """The consent feed since ``cursor`` as facts, page by page."""
    for page in reader.read("consents", cursor):
        facts = [fact for fact in map(to_fact, page.records) if fact is not None]
        yield ConsentPage(facts, dict(page.cursor) if page.cursor else None)


def consent_payload(write: ConsentWrite) -> dict[str, Any]:
    """The body of ``POST /api/crm/consents`` for one decision."""
    body: dict[str, Any] = {
        "channel": write.channel,
        "purpose": write.purpose,
        "status": write.status,
        "capturedAt": write.decided_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "source": f"b2sync:{write.source_system}"[:100],
    }
    if write.customer_id:
        body["subjectId"] = write.customer_id
    elif write.email:
        body["email"] = write.email
    if write.legal_basis in LEGAL_BASES:
        body["legalBasis"] = write.legal_basis
    if write.wording_version:
        body["wordingVersion"] = write.wording_version[:50]
    return body


def write_consents(writer: BackWriter, writes: Sequence[ConsentWrite]) -> list[WriteResult]:
    """Upsert each decision; one result per write, keyed by ``ConsentWrite.key``."""
    results: list[WriteResult] = []
    ready: list[WriteItem] = []
    for write in writes:
        if not write.customer_id and not write.email:
            results.append(
                WriteResult.failure(
                    write.key, "NO_SUBJECT", "B2Connect needs the customer id or the email"
                )
            )
            continue
        ready.append(WriteItem(key=write.key, payload=consent_payload(write)))
    written = {r.key: r for r in writer.write("consents", ready)} if ready else {}
    results.extend(written.values())
    by_key = {r.key: r for r in results}
    log.info(
        "b2connect.consents_written", writes=len(writes), failed=sum(not r.ok for r in results)
    )
    return [by_key[w.key] for w in writes]
