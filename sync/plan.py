"""What a flush will do: the plan records become (writes, unchanged, parked, dead letters),
and the dead letters any stage files for a record. Shared by the push and pull stages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.records import Record
from sync.state import DeadLetterRow
from sync.wire import unencodable_path

__all__ = [
    "ASSOC_PREFIX",
    "PARKED",
    "Plan",
    "Planned",
    "dead_letter",
    "failed_record",
    "parked_hashes",
]

ASSOC_PREFIX = "@assoc:"
PARKED = "@parked"


@dataclass
class Planned:
    """One record to write."""

    key: str
    record: Record
    payload: dict[str, Any]
    send: dict[str, Any]
    hashes: dict[str, str]
    crm_id: str | None
    is_new: bool
    changed: list[str]
    match_value: str | None = None
    deferred: list[tuple[str, str, str]] = field(default_factory=list)
    #: the CRM id each association's target had when the record was planned (association
    #: pipeline → CRM id): the association written with the record
    targets: dict[str, str] = field(default_factory=dict)


@dataclass
class Plan:
    """What one flush will do."""

    writes: list[Planned] = field(default_factory=list)
    unchanged: list[Record] = field(default_factory=list)
    parked: list[Record] = field(default_factory=list)
    deleted: list[Record] = field(default_factory=list)
    dead: list[DeadLetterRow] = field(default_factory=list)


def parked_hashes(hashes: Mapping[str, str], why: str) -> dict[str, str]:
    """Hashes stored for a new record the CRM refused or that matched ambiguously, so an
    unchanged rerun does not ask again (a replay or a change in B2Connect does)."""
    return {**{k: v for k, v in hashes.items() if not k.startswith("@")}, PARKED: why}


def dead_letter(
    record: Record,
    code: str,
    message: str,
    field_name: str | None = None,
    retry_at: datetime | None = None,
) -> DeadLetterRow:
    """A dead letter keeping the source record, so a replay re-maps it with today's config."""
    return DeadLetterRow(
        stream=record.stream,
        key=record.key,
        payload={"source": dict(record.fields), "tenant_id": record.tenant_id},
        code=code,
        message=message,
        field=field_name,
        next_attempt_at=retry_at,
    )


def failed_record(record: Record, stage: str, exc: BaseException) -> DeadLetterRow:
    """A dead letter for a record whose processing raised, naming the field when it can
    (the exception's own, or the text a Unicode error must have come from)."""
    field_name = getattr(exc, "field", None)
    if not isinstance(field_name, str):
        field_name = unencodable_path(record.fields) if isinstance(exc, UnicodeError) else None
    return dead_letter(
        record,
        "PROCESSING_ERROR",
        f"{stage} failed on this record ({type(exc).__name__})",
        field_name,
    )
