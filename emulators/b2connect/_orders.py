"""Orders after B2Connect's Orders service: building an order, totals, status rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from emulators._base import HttpError
from emulators.b2connect._common import (
    ORDER_FLOW,
    ORDER_STATUSES,
    PAYMENT_STATUSES,
    money,
    new_id,
)

#: VAT rates by shipping country; unit prices are net
VAT_RATES = {
    "DE": Decimal("0.19"),
    "AT": Decimal("0.20"),
    "CH": Decimal("0.081"),
    "FR": Decimal("0.20"),
    "IT": Decimal("0.22"),
    "NL": Decimal("0.21"),
}
DEFAULT_VAT = Decimal("0.19")
FREE_SHIPPING_FROM = Decimal("50.00")
SHIPPING_FEE = Decimal("4.95")

ORDER_FIELDS = (
    "id",
    "tenantId",
    "customerId",
    "customerEmail",
    "orderNumber",
    "status",
    "paymentStatus",
    "paymentMethod",
    "paymentProvider",
    "transactionId",
    "subtotal",
    "taxAmount",
    "discountAmount",
    "shippingAmount",
    "totalAmount",
    "currency",
    "shippingFirstName",
    "shippingLastName",
    "shippingCompany",
    "shippingStreet",
    "shippingCity",
    "shippingPostalCode",
    "shippingCountry",
    "shippingPhone",
    "billingFirstName",
    "billingLastName",
    "billingCompany",
    "billingStreet",
    "billingCity",
    "billingPostalCode",
    "billingCountry",
    "billingPhone",
    "notes",
    "discountCode",
    "source",
    "items",
    "statusHistory",
    "returns",
    "createdAt",
    "updatedAt",
)
_ADDRESS_PARTS = (
    "FirstName",
    "LastName",
    "Company",
    "Street",
    "City",
    "PostalCode",
    "Country",
    "Phone",
)


def build_item(order_id: str, raw: dict[str, Any], created_at: str) -> dict[str, Any]:
    """One order line; ``totalPrice`` is quantity x unit price."""
    try:
        quantity = int(raw["quantity"])
        unit = money(raw["unitPrice"])
        name = str(raw["productName"])
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise HttpError(
            400, "VALIDATION", f"order items need productName, quantity and unitPrice: {exc}"
        ) from exc
    if quantity < 1:
        raise HttpError(400, "VALIDATION", "order item quantity must be at least 1")
    return {
        "id": str(raw.get("id") or new_id()),
        "orderId": order_id,
        "productId": str(raw.get("productId") or new_id()),
        "productName": name,
        "productSku": str(raw.get("productSku") or ""),
        "quantity": quantity,
        "unitPrice": unit,
        "totalPrice": money(unit * quantity),
        "createdAt": str(raw.get("createdAt") or created_at),
    }


def totals(
    items: list[dict[str, Any]], country: str | None, discount: Decimal = Decimal(0)
) -> dict[str, Decimal]:
    """subtotal, tax, discount, shipping and total: total = subtotal + tax - discount + shipping."""
    subtotal = money(sum((i["totalPrice"] for i in items), Decimal(0)))
    tax = money(subtotal * VAT_RATES.get(country or "DE", DEFAULT_VAT))
    shipping = Decimal("0.00") if subtotal >= FREE_SHIPPING_FROM else SHIPPING_FEE
    discount = money(discount)
    return {
        "subtotal": subtotal,
        "taxAmount": tax,
        "discountAmount": discount,
        "shippingAmount": money(shipping),
        "totalAmount": money(subtotal + tax - discount + shipping),
    }


def build_order(data: dict[str, Any], tenant: str, now: str) -> dict[str, Any]:
    """A complete order record from partial input; missing totals are computed from the lines."""
    oid = str(data.get("id") or new_id())
    created = str(data.get("createdAt") or now)
    status = data.get("status") or "pending"
    payment = data.get("paymentStatus") or "pending"
    if status not in ORDER_STATUSES or payment not in PAYMENT_STATUSES:
        raise HttpError(400, "VALIDATION", f"invalid status {status!r} / payment {payment!r}")
    items = [build_item(oid, raw, created) for raw in data.get("items") or []]
    order: dict[str, Any] = dict.fromkeys(ORDER_FIELDS)
    order.update(
        {
            "id": oid,
            "tenantId": tenant,
            "customerId": data.get("customerId"),
            "customerEmail": data.get("customerEmail") or "",
            "orderNumber": data.get("orderNumber") or "",
            "status": status,
            "paymentStatus": payment,
            "paymentMethod": data.get("paymentMethod") or "card",
            "currency": data.get("currency") or "EUR",
            "shippingCountry": data.get("shippingCountry") or "DE",
            "items": items,
            "statusHistory": data.get("statusHistory")
            or [{"status": status, "changedAt": created}],
            "returns": [
                dict(r, refundAmount=money(r["refundAmount"])) for r in data.get("returns") or []
            ],
            "createdAt": created,
            "updatedAt": str(data.get("updatedAt") or created),
        }
    )
    for key in ORDER_FIELDS:
        if order[key] is None and data.get(key) is not None:
            order[key] = data[key]
    for part in _ADDRESS_PARTS:
        if order[f"billing{part}"] is None:
            order[f"billing{part}"] = order[f"shipping{part}"]
    computed = totals(items, order["shippingCountry"], money(data.get("discountAmount") or 0))
    for key, value in computed.items():
        order[key] = money(data[key]) if data.get(key) is not None else value
    return order


def check_status_change(order: dict[str, Any], new_status: str) -> None:
    """The Orders service's one hard rule: no cancelling once shipped or delivered."""
    if new_status == "cancelled" and order["status"] in ("shipped", "delivered"):
        raise HttpError(
            409, "CONFLICT", f"Order {order['id']} is {order['status']} and cannot be cancelled."
        )


def next_status(status: str) -> str | None:
    """The status after ``status`` on the happy path, or None at the end."""
    if status not in ORDER_FLOW or status == ORDER_FLOW[-1]:
        return None
    return ORDER_FLOW[ORDER_FLOW.index(status) + 1]
