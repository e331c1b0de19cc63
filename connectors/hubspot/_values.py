"""Value conversions between Python and HubSpot's all-strings property values."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from dateutil import parser as dateparser

__all__ = ["epoch_ms", "from_epoch_ms", "norm", "parse_ts", "to_text"]


def to_text(value: Any) -> str:
    """A property value as HubSpot stores it; None becomes "" (which clears the property)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(to_text(v) for v in value)  # multi-select values
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return str(value)


def norm(value: Any) -> str:
    """Comparison form of an id or email: trimmed and lower-cased."""
    return str(value).strip().lower()


def epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware (or UTC-naive) datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    """An aware UTC datetime for epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def parse_ts(raw: Any) -> int | None:
    """Epoch ms from a HubSpot timestamp (ISO text, epoch-ms text or a datetime); else None."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        return epoch_ms(raw)
    text = str(raw).strip()
    if text.isdigit():
        return int(text)
    try:
        return epoch_ms(dateparser.isoparse(text))
    except ValueError:
        return None
