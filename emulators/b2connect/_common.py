"""Vocabulary, timestamps, money and JSON rendering shared by the B2Connect emulator."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

DEFAULT_TENANT = "7c9e6679-7425-40de-944b-e07fc1f90ae7"

ENTITIES = ("customers", "companies", "orders", "consents", "erasures")
CHANGE_TYPES = ("Created", "Updated", "Deleted", "Restored")

CUSTOMER_TYPES = ("Individual", "Business", "Government", "NonProfit", "Reseller", "Distributor")
ORDER_STATUSES = ("pending", "confirmed", "processing", "shipped", "delivered", "cancelled")
PAYMENT_STATUSES = ("pending", "paid", "failed", "refunded")
RETURN_STATUSES = ("requested", "approved", "received", "refunded", "rejected")
CONSENT_CHANNELS = ("email", "sms", "phone", "post")
CONSENT_PURPOSES = ("marketing", "newsletter", "profiling", "processing", "tracking")
CONSENT_STATUSES = ("granted", "withdrawn", "unknown")
LEGAL_BASES = ("consent", "contract", "legitimate_interest", "legal_obligation")
ERASURE_STATUSES = ("pending", "processing", "completed", "rejected")
ERASURE_ORIGINS = ("b2connect", "crm")

#: the statuses an order moves through, in order
ORDER_FLOW = ("pending", "confirmed", "processing", "shipped", "delivered")

MONEY_FIELDS = frozenset(
    {
        "subtotal",
        "taxAmount",
        "discountAmount",
        "shippingAmount",
        "totalAmount",
        "unitPrice",
        "totalPrice",
        "refundAmount",
    }
)

CENT = Decimal("0.01")


def iso(ts: float | datetime) -> str:
    """RFC 3339 UTC with microseconds and ``Z``: fixed width, so strings sort by time."""
    dt = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    """Parse an ISO date or date-time; naive values are taken as UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def now_iso(clock: Callable[[], float]) -> str:
    return iso(clock())


def new_id() -> str:
    return str(uuid.uuid4())


def is_guid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def money(value: Any) -> Decimal:
    """A decimal(18,2) amount from a number or numeric string."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def normalise_money(obj: Any, key: str | None = None) -> Any:
    """Deep copy of ``obj`` with every money field turned into a 2-place Decimal."""
    if isinstance(obj, dict):
        return {k: normalise_money(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [normalise_money(v, key) for v in obj]
    if key in MONEY_FIELDS and isinstance(obj, int | float | str | Decimal):
        return obj if isinstance(obj, bool) else money(obj)
    return obj


def clone(obj: Any) -> Any:
    """Deep copy of JSON-like data (dicts, lists, immutable scalars), much faster than deepcopy."""
    if isinstance(obj, dict):
        return {k: clone(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clone(v) for v in obj]
    return obj


def plain(obj: Any) -> Any:
    """Deep copy with Decimals as floats: what a JSON client sees after parsing."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    if isinstance(obj, Decimal):
        return float(obj)
    return obj


_MONEY_MARK = "\x00"
_MONEY_RE = re.compile(r'"\\u0000(-?\d+\.\d{2})\\u0000"')


def _mark_money(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{_MONEY_MARK}{value.quantize(CENT, rounding=ROUND_HALF_UP):f}{_MONEY_MARK}"
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(obj: Any) -> str:
    """Compact JSON in which Decimals are numbers with exactly two decimals (``12.50``).

    Decimals are first written by the C encoder as strings wrapped in NUL characters, then
    unquoted. Record strings never contain NUL (the shop refuses it, as PostgreSQL text
    columns do), so only markers match.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_mark_money)
    return _LONE_SURROGATE.sub(_escape, _MONEY_RE.sub(r"\1", text))


#: a lone UTF-16 surrogate cannot be UTF-8 encoded; .NET's JSON writer escapes it (\ud800)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def contains_nul(obj: Any) -> bool:
    """Whether any string (key or value) inside ``obj`` holds a NUL character."""
    if isinstance(obj, str):
        return "\x00" in obj
    if isinstance(obj, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return any(contains_nul(v) for v in obj)
    return False
