"""Keyed hashes of field values: change detection and echo suppression without keeping PII."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["FieldHasher"]

#: numbers beyond 10**±this are hashed in scientific notation (1e308 is not 309 digits)
_MAX_PLAIN_EXPONENT = 64
_NESTED = (dict, list, tuple, set, frozenset)


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
        return _number(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | set | frozenset) and not any(
        isinstance(v, _NESTED) for v in value
    ):
        # a multi-select value: both CRMs store it as "a;b", so its echo must hash alike
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return ";".join("" if v is None else _canonical(v) for v in items) or "null"
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def _number(value: int | float | Decimal) -> str:
    """Plain digits for ordinary numbers; NaN, infinities and huge exponents stay short."""
    # Decimal(int) has no str() digit limit; floats go through repr, the shortest text
    number = Decimal(value) if isinstance(value, int | Decimal) else Decimal(str(value))
    if not number.is_finite():
        return str(number)
    number = number.normalize()
    if abs(number.as_tuple().exponent) > _MAX_PLAIN_EXPONENT:  # type: ignore[arg-type]
        return str(number)
    return format(number, "f")


class FieldHasher:
    """Keyed BLAKE2b (a MAC, 128-bit digests) of canonical field values."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("hash key must be at least 16 bytes")
        self._key = hashlib.sha256(key).digest() if len(key) > 64 else key

    def value(self, field: str, value: Any) -> str:
        """Hash of one field's value (the field name is mixed in)."""
        # surrogatepass: a lone surrogate (hostile or broken text) still hashes, distinctly
        message = f"{field}\x1f{_canonical(value)}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(message, key=self._key, digest_size=16).hexdigest()

    def fields(self, payload: Mapping[str, Any]) -> dict[str, str]:
        """Hashes of every field of a payload."""
        return {name: self.value(name, value) for name, value in payload.items()}

    def record(self, hashes: Mapping[str, str]) -> str:
        """One hash over a record's field hashes."""
        joined = "|".join(f"{k}={hashes[k]}" for k in sorted(hashes))
        return hashlib.blake2b(
            joined.encode("utf-8", "surrogatepass"), key=self._key, digest_size=16
        ).hexdigest()
