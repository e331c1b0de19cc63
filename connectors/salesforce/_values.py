"""Python values to Salesforce wire values (REST JSON and Bulk CSV) and back for timestamps."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = [
    "BULK_NULL",
    "InvalidValue",
    "csv_value",
    "iso_utc",
    "json_value",
    "parse_timestamp",
    "payload_json",
]

#: What Bulk API CSV means by "set this field to null" (an empty cell means "leave as is").
BULK_NULL = "#N/A"


class InvalidValue(ValueError):
    """A payload value with no Salesforce representation; ``field`` names where it was."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def iso_utc(value: dt.datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss.SSSZ`` in UTC (naive means UTC), as Salesforce writes them."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    utc = aware.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> dt.datetime:
    """An aware UTC datetime from ``2026-11-25T10:11:12.000+0000`` (or ``...Z``)."""
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    elif len(cleaned) > 5 and cleaned[-5] in "+-" and cleaned[-4:].isdigit():
        cleaned = f"{cleaned[:-2]}:{cleaned[-2:]}"
    parsed = dt.datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _number(field: str, value: float | Decimal) -> float | str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue(field, f"{field}: {value!r} is not a number Salesforce accepts")
        return value
    if not value.is_finite():
        raise InvalidValue(field, f"{field}: {value} is not a number Salesforce accepts")
    as_float = float(value)
    # Send a JSON number when it round-trips exactly, else the decimal text (Salesforce
    # parses numeric strings for number and currency fields).
    return as_float if Decimal(repr(as_float)) == value else format(value, "f")


def json_value(field: str, value: Any) -> Any:
    """The JSON value to send for ``value``; raises :class:`InvalidValue` if there is none."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float | Decimal):
        return _number(field, value)
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        if all(isinstance(v, str) for v in items):
            return ";".join(items)  # multi-select picklist
    raise InvalidValue(field, f"{field}: a {type(value).__name__} cannot be sent to Salesforce")


def csv_value(field: str, value: Any) -> str:
    """The Bulk API 2.0 CSV cell for ``value``; None and "" become ``#N/A`` (set to null),
    as a REST write of either would clear the field."""
    converted = json_value(field, value)
    if converted is None or converted == "":
        return BULK_NULL  # an empty cell would mean "leave unchanged"
    if isinstance(converted, bool):
        return "true" if converted else "false"
    if isinstance(converted, float):
        return format(Decimal(repr(converted)), "f")
    return str(converted)


def payload_json(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Every value of a payload converted with :func:`json_value`."""
    return {name: json_value(name, value) for name, value in payload.items()}
