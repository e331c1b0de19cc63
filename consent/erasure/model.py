"""Erasure vocabulary: identifiers, step states, backoff and the 30-day deadline (pure).

A request names a person by email and/or ids; :class:`SubjectIds` normalises them and seals
them for storage. Steps run in ``position`` order groups: every ``local`` and CRM step first
(in parallel), then the B2Connect step of a shop-originated request (B2Connect erases when
told the request is ``completed``), then ``audit`` (crypto-shredding) once all others ended.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mapping import normalise_email

__all__ = [
    "DEADLINE",
    "MAX_ATTEMPTS",
    "NOT_FOUND",
    "Origin",
    "StepStatus",
    "SubjectIds",
    "backoff",
    "is_email",
    "normalise_email",
]

#: how a step's detail starts when the system did not know the person (nothing to erase)
NOT_FOUND: Final = "not found:"
#: GDPR Art. 12(3): answer within one month; B2Connect documents 30 days
DEADLINE = timedelta(days=30)
#: after this many failed attempts a step stays failed and waits for an operator
MAX_ATTEMPTS = 25
_FIRST_RETRY = timedelta(minutes=1)
_LONGEST_WAIT = timedelta(hours=6)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NONCE = 12


class StepStatus(StrEnum):
    """Where one system's part of an erasure stands."""

    PENDING = "pending"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class Origin(StrEnum):
    """Who asked for the erasure."""

    OPERATOR = "operator"
    B2CONNECT = "b2connect"
    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"
    RETENTION = "retention"


#: steps over (they no longer block the steps after them)
ENDED = frozenset({StepStatus.DONE, StepStatus.SKIPPED, StepStatus.FAILED})


def is_email(value: str) -> bool:
    """A plausible address (one @, a dot in the domain, no spaces, at most 254 chars)."""
    text = normalise_email(value)
    return len(text) <= 254 and bool(_EMAIL_RE.match(text))


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Wait before attempt ``attempts + 1``: 1 min doubling to 6 h, or the system's own ask."""
    if retry_after is not None and retry_after > 0:
        return min(timedelta(seconds=retry_after), _LONGEST_WAIT)
    wait: timedelta = _FIRST_RETRY * (2 ** max(0, attempts - 1))
    return min(wait, _LONGEST_WAIT)


def deadline(received: datetime) -> datetime:
    """When the request must be answered."""
    return received + DEADLINE


@dataclass
class SubjectIds:
    """The person's identifiers as each system knows them (clear values: seal before storing)."""

    email: str | None = None
    customer_id: str | None = None
    #: connector type (``hubspot``, ``salesforce``) -> that CRM's record id
    crm_ids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.email is not None:
            self.email = normalise_email(self.email) or None
        if self.customer_id is not None:
            self.customer_id = self.customer_id.strip() or None

    @property
    def empty(self) -> bool:
        """No identifier at all."""
        return not (self.email or self.customer_id or self.crm_ids)

    def merge(self, other: SubjectIds) -> None:
        """Fill in what ``other`` knows and this does not."""
        self.email = self.email or other.email
        self.customer_id = self.customer_id or other.customer_id
        for system, rid in other.crm_ids.items():
            self.crm_ids.setdefault(system, rid)

    def kinds(self) -> Iterable[tuple[str, str]]:
        """(kind, value) pairs to tombstone: ``email``, ``customer_id``, ``<crm>_id``."""
        if self.email:
            yield "email", self.email
        if self.customer_id:
            yield "customer_id", self.customer_id
        for system, rid in sorted(self.crm_ids.items()):
            yield f"{system}_id", rid

    def to_json(self) -> dict[str, Any]:
        return {"email": self.email, "customer_id": self.customer_id, "crm_ids": self.crm_ids}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubjectIds:
        return cls(
            email=data.get("email"),
            customer_id=data.get("customer_id"),
            crm_ids=dict(data.get("crm_ids") or {}),
        )

    def seal(self, key: bytes, request_id: int) -> bytes:
        """AES-GCM of the identifiers, bound to the request id."""
        nonce = secrets.token_bytes(NONCE)
        data = json.dumps(self.to_json(), sort_keys=True).encode()
        return nonce + AESGCM(_aes_key(key)).encrypt(nonce, data, str(request_id).encode())

    @classmethod
    def unseal(cls, key: bytes, request_id: int, sealed: bytes) -> SubjectIds:
        """The identifiers back from :meth:`seal`."""
        data = AESGCM(_aes_key(key)).decrypt(
            sealed[:NONCE], sealed[NONCE:], str(request_id).encode()
        )
        return cls.from_json(json.loads(data))


def _aes_key(key: bytes) -> bytes:
    return hashlib.sha256(b"b2sync-erasure-seal-v1" + key).digest()
