"""Canonical B2Connect order mappings for the insights tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """RFC 3339 with ``Z`` as B2Connect sends it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def order(
    oid: str,
    *,
    days_ago: float = 1,
    total: str | float = "100.00",
    currency: str = "EUR",
    status: str = "delivered",
    payment: str = "paid",
    returns: list[dict[str, Any]] | None = None,
    customer: str = "c-1",
) -> dict[str, Any]:
    """One order placed ``days_ago`` days before :data:`NOW`."""
    created = NOW - timedelta(days=days_ago)
    return {
        "id": oid,
        "customerId": customer,
        "status": status,
        "paymentStatus": payment,
        "totalAmount": total,
        "currency": currency,
        "createdAt": iso(created),
        "items": [],
        "returns": returns or [],
    }


def dated_order(
    oid: str,
    customer: str,
    when: str,
    total: str = "100.00",
    source: str | None = None,
    status: str = "delivered",
) -> dict[str, Any]:
    """One paid order of ``customer`` placed on the day ``when`` (``YYYY-MM-DD``, UTC), with
    its acquisition ``source`` if given."""
    return {
        "id": oid,
        "customerId": customer,
        "status": status,
        "paymentStatus": "paid",
        "totalAmount": total,
        "currency": "EUR",
        "createdAt": iso(datetime.fromisoformat(when).replace(tzinfo=UTC)),
        "returns": [],
        **({"source": source} if source is not None else {}),
    }


def refund(amount: str, status: str = "refunded") -> dict[str, Any]:
    """A return entry."""
    return {"id": "r", "status": status, "refundAmount": amount, "createdAt": iso(NOW)}
