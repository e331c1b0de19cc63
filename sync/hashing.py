"""Keyed hashes of field values: change detection and echo suppression without keeping PII."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["FieldHasher"]


def _canonical(value: Any) -> str:
    """One text per meaning: 1, 1.0 and Decimal('1.00') hash alike; None and '' alike; a
    list of texts and its CRM form (``["a", "b"]`` and ``"a;b"``) alike; a mapping as the
    sorted compact JSON HubSpot stores."""
    if type(value) is str:
        return value or "null"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value)).normalize()
        return format(number, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) for v in value):
        # a multi-select: both CRMs store it as ``a;b``, and that text reads back equal
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return ";".join(items) or "null"
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


class FieldHasher:
    """Keyed BLAKE2b (a MAC, 128-bit digests) of canonical field values."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("hash key must be at least 16 bytes")
        self._key = hashlib.sha256(key).digest() if len(key) > 64 else key

    def value(self, field: str, value: Any) -> str:
        """Hash of one field's value (the field name is mixed in)."""
        message = f"{field}\x1f{_canonical(value)}".encode()
        return hashlib.blake2b(message, key=self._key, digest_size=16).hexdigest()

    def fields(self, payload: Mapping[str, Any]) -> dict[str, str]:
        """Hashes of every field of a payload."""
        return {name: self.value(name, value) for name, value in payload.items()}

    def record(self, hashes: Mapping[str, str]) -> str:
        """One hash over a record's field hashes."""
        joined = "|".join(f"{k}={hashes[k]}" for k in sorted(hashes))
        return hashlib.blake2b(joined.encode(), key=self._key, digest_size=16).hexdigest()
