"""The compact order fact the metrics read: no names, no addresses, money as ``Decimal``.

:func:`order_fact` reads a canonical B2Connect order (``docs/b2connect-integration-api.yaml``,
schema ``Order``); the later ledger stores exactly these fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from insights.errors import InvalidOrder
from mapping.config import normalise_channel

__all__ = [
    "REFUND_RETURN_STATUSES",
    "OrderFact",
    "order_fact",
    "parse_money",
    "parse_time",
]

REFUND_RETURN_STATUSES = frozenset({"refunded"})
"""Return statuses whose ``refundAmount`` has left the shop (approved/received are pending)."""

_STATUSES = frozenset({"pending", "confirmed", "processing", "shipped", "delivered", "cancelled"})


@dataclass(frozen=True, slots=True)
class OrderFact:
    """One order as the insights see it; amounts in the order's own currency."""

    order_id: str
    customer_id: str
    created_at: datetime
    status: str
    currency: str
    total: Decimal
    refunded: Decimal
    """Money given back (refunded returns, or the whole total when payment is refunded)."""
    source: str | None = None
    """Marketing source/channel of the order (B2Connect ``source``); None: unattributed."""

    @property
    def cancelled(self) -> bool:
        """Cancelled orders never count: no revenue, no order, no date."""
        return self.status == "cancelled"

    @property
    def net(self) -> Decimal:
        """What the shop kept: total minus refunds, never below zero."""
        return max(self.total - self.refunded, Decimal(0))


#: B2Connect stores money as decimal(18,2); anything above is not a real amount (1e308...)
MAX_AMOUNT = Decimal("9999999999999999.99")


def parse_money(value: object, order_id: str, field: str) -> Decimal:
    """A Money value (number or numeric string) as an exact ``Decimal``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidOrder(order_id, field, "must be a number")
    try:
        amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise InvalidOrder(order_id, field, "is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidOrder(order_id, field, "must be a finite, non-negative amount")
    if amount > MAX_AMOUNT:
        raise InvalidOrder(order_id, field, "exceeds the largest amount a shop stores")
    return amount


def parse_time(value: object, order_id: str, field: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or offset) as an aware UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidOrder(order_id, field, "is not an ISO 8601 timestamp") from None
    else:
        raise InvalidOrder(order_id, field, "must be an ISO 8601 timestamp")
    if moment.tzinfo is None:
        raise InvalidOrder(order_id, field, "has no time zone (expected UTC 'Z')")
    return moment.astimezone(UTC)


def _text(order: Mapping[str, Any], field: str, order_id: str) -> str:
    value = order.get(field)
    if not isinstance(value, str) or not value:
        raise InvalidOrder(order_id, field, "must be a non-empty string")
    return _storable(value, order_id, field)


def _storable(value: str, order_id: str, field: str) -> str:
    """``value`` if the ledger can store it (a lone surrogate is not text UTF-8 can hold)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidOrder(order_id, field, "contains invalid Unicode") from None
    return value


def _refunded(order: Mapping[str, Any], order_id: str, total: Decimal) -> Decimal:
    returns = order.get("returns") or []
    if not isinstance(returns, list):
        raise InvalidOrder(order_id, "returns", "must be a list")
    given_back = Decimal(0)
    for entry in returns:
        if not isinstance(entry, Mapping):
            raise InvalidOrder(order_id, "returns", "must hold objects")
        if entry.get("status") in REFUND_RETURN_STATUSES:
            given_back += parse_money(entry.get("refundAmount"), order_id, "returns.refundAmount")
    if order.get("paymentStatus") == "refunded":
        given_back = max(given_back, total)
    return min(given_back, total)


def order_fact(order: Mapping[str, Any]) -> OrderFact:
    """Read a canonical B2Connect order; raises :class:`InvalidOrder` naming the bad field.

    Refunds are the sum of returns in status ``refunded``; a ``paymentStatus`` of
    ``refunded`` means the whole total went back (the larger of the two counts, never both).
    """
    raw_id = order.get("id")
    order_id = raw_id if isinstance(raw_id, str) and raw_id else "?"
    if order_id == "?":
        raise InvalidOrder(order_id, "id", "must be a non-empty string")
    status = _text(order, "status", order_id)
    if status not in _STATUSES:
        raise InvalidOrder(order_id, "status", f"has unknown value '{status}'")
    currency = order.get("currency") or "EUR"
    if not isinstance(currency, str):
        raise InvalidOrder(order_id, "currency", "must be an ISO 4217 code")
    currency = _storable(currency, order_id, "currency")
    total = parse_money(order.get("totalAmount", order.get("total")), order_id, "totalAmount")
    return OrderFact(
        order_id=order_id,
        customer_id=_text(order, "customerId", order_id),
        created_at=parse_time(order.get("createdAt"), order_id, "createdAt"),
        status=status,
        currency=currency.upper(),
        total=total,
        refunded=_refunded(order, order_id, total),
        source=normalise_channel(order.get("source")),
    )
