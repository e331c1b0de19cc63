"""The canonical records every connector speaks (ARCHITECTURE §2).

A :class:`Record` is one B2Connect-vocabulary object (camelCase field names) or one CRM object
(its own field names) as read from a system; :class:`WriteItem` is what the engine asks a
connector to write; :class:`WriteResult` is the per-record outcome, never all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "Capability",
    "ErasureResult",
    "FieldInfo",
    "Page",
    "Record",
    "StreamSchema",
    "Subject",
    "WriteError",
    "WriteItem",
    "WriteResult",
]

Cursor = dict[str, Any]


class Capability(StrEnum):
    """What a connector can do; the engine plans from these."""

    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    ERASE = "erase"
    LOOKUP = "lookup"
    BULK = "bulk"
    ASSOCIATIONS = "associations"
    WEBHOOKS = "webhooks"


@dataclass(frozen=True, slots=True)
class Record:
    """One object read from a system."""

    stream: str
    key: str
    fields: Mapping[str, Any]
    updated_at: datetime | None = None
    deleted: bool = False
    tenant_id: str | None = None
    modified_by: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """A page of changes and the cursor to resume after it (JSON-serialisable)."""

    records: Sequence[Record]
    cursor: Cursor | None
    has_more: bool = False
    #: records of the whole read (this page, those before and after it), where the API says
    total: int | None = None


@dataclass(frozen=True, slots=True)
class WriteItem:
    """One upsert: the B2Connect key, the mapped CRM payload, the CRM id if linked."""

    key: str
    payload: Mapping[str, Any]
    crm_id: str | None = None


@dataclass(frozen=True, slots=True)
class WriteError:
    """Why the system rejected one record: vendor code, message, offending field."""

    code: str
    message: str
    field: str | None = None
    retriable: bool = False


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome for one :class:`WriteItem`."""

    key: str
    ok: bool
    crm_id: str | None = None
    created: bool = False
    error: WriteError | None = None

    @classmethod
    def success(cls, key: str, crm_id: str | None, created: bool = False) -> WriteResult:
        return cls(key=key, ok=True, crm_id=crm_id, created=created)

    @classmethod
    def failure(
        cls, key: str, code: str, message: str, field: str | None = None, retriable: bool = False
    ) -> WriteResult:
        return cls(key=key, ok=False, error=WriteError(code, message, field, retriable))


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """What ``describe`` knows of one field."""

    name: str
    type: str = "string"
    length: int | None = None
    nillable: bool = True
    unique: bool = False
    external_id: bool = False
    updateable: bool = True


@dataclass(frozen=True, slots=True)
class StreamSchema:
    """Fields of a stream/object as the system describes them."""

    stream: str
    fields: Mapping[str, FieldInfo] = field(default_factory=dict)

    def length_of(self, name: str) -> int | None:
        info = self.fields.get(name)
        return info.length if info else None


@dataclass(frozen=True, slots=True)
class Subject:
    """A person to erase: identifiers as each system knows them."""

    email: str | None = None
    b2connect_id: str | None = None
    crm_ids: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ErasureResult:
    """What one system did for an erasure request."""

    system: str
    done: bool
    detail: str = ""
    removed: int = 0
    #: whether the system knew the person (None: it cannot tell, e.g. a registered request)
    found: bool | None = None
