"""Seeded orders: about three per customer, 1-4 lines each, statuses by age, one orphan."""

from __future__ import annotations

import random
import uuid
import zlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from emulators import _fakedata as fake
from emulators.b2connect import ORDER_FLOW, iso, money, parse_iso, plain, totals

#: orders per customer -> weight (mean about 3)
COUNT_WEIGHTS = {0: 5, 1: 13, 2: 20, 3: 23, 4: 17, 5: 11, 6: 7, 7: 4}
PRODUCT_NS = uuid.UUID("0b5c1c52-7c1e-4f0e-9a51-8a8a5b2f0c11")
PROVIDERS = {"card": "stripe", "paypal": "paypal", "klarna": "klarna", "sofort": "klarna"}
ORPHAN = {
    "email": "geist.bestellung@example.com",
    "firstName": "Gerd",
    "lastName": "Geist",
    "currency": "EUR",
    "companyId": None,
    "phone": None,
}


def make_orders(
    gen: fake.Gen, tenant: str, customers: list[dict[str, Any]], no_orders: set[str]
) -> list[dict[str, Any]]:
    """Orders for ``customers`` (none for ``no_orders``) plus one whose customer is unknown."""
    rng = gen.rng
    orders: list[dict[str, Any]] = []
    for c in customers:
        if c["id"] in no_orders:
            continue
        count = rng.choices(list(COUNT_WEIGHTS), weights=list(COUNT_WEIGHTS.values()))[0]
        orders.extend(_order(gen, tenant, c, len(orders) + 1) for _ in range(count))
    orphan = {
        **ORPHAN,
        "id": gen.uid(),
        "createdAt": iso(gen.now - timedelta(days=400)),
        "billingAddress": fake.address(rng, "DE"),
    }
    orphan["shippingAddress"] = orphan["billingAddress"]
    orders.append(_order(gen, tenant, orphan, len(orders) + 1))
    return orders


def _pick_status(rng: random.Random, age_days: float) -> str:
    if age_days < 3:
        table = {"pending": 35, "confirmed": 25, "processing": 20, "shipped": 10, "cancelled": 10}
    elif age_days < 14:
        table = {"processing": 10, "shipped": 35, "delivered": 45, "cancelled": 10}
    else:
        table = {"delivered": 90, "cancelled": 10}
    return rng.choices(list(table), weights=list(table.values()))[0]


def _history(gen: fake.Gen, created: datetime, status: str) -> list[dict[str, str]]:
    """The statuses the order went through, with increasing times after ``created``."""
    rng = gen.rng
    if status == "cancelled":
        path = [*ORDER_FLOW[: rng.randint(1, 3)], "cancelled"]
    else:
        path = list(ORDER_FLOW[: ORDER_FLOW.index(status) + 1])
    end = min(gen.now, created + timedelta(days=12))
    span = max(1.0, (end - created).total_seconds())
    offsets = sorted(rng.uniform(0, span) for _ in path[1:])
    times = [created, *(created + timedelta(seconds=o) for o in offsets)]
    return [{"status": s, "changedAt": iso(t)} for s, t in zip(path, times, strict=True)]


def _items(gen: fake.Gen, order_id: str, created: str) -> list[dict[str, Any]]:
    rng = gen.rng
    lines = []
    for product in rng.sample(fake.PRODUCTS, rng.randint(1, 4)):
        quantity = rng.choice([1, 1, 1, 2, 2, 3])
        unit = money(product.price)
        lines.append(
            {
                "id": gen.uid(),
                "orderId": order_id,
                "productId": str(uuid.uuid5(PRODUCT_NS, product.sku)),
                "productName": product.name,
                "productSku": product.sku,
                "quantity": quantity,
                "unitPrice": unit,
                "totalPrice": money(unit * quantity),
                "createdAt": created,
            }
        )
    return lines


def _payment(rng: random.Random, history: list[dict[str, str]]) -> str:
    status = history[-1]["status"]
    if status == "pending":
        return "pending" if rng.random() < 0.85 else "failed"
    if status == "cancelled":
        was_paid = any(h["status"] == "confirmed" for h in history)
        return "refunded" if was_paid else rng.choice(["pending", "failed"])
    return "paid"


def _order(gen: fake.Gen, tenant: str, customer: dict[str, Any], number: int) -> dict[str, Any]:
    rng = gen.rng
    created_dt = gen.moment(parse_iso(customer["createdAt"]))
    created = iso(created_dt)
    oid = gen.uid()
    status = _pick_status(rng, (gen.now - created_dt).total_seconds() / 86400)
    history = _history(gen, created_dt, status)
    items = _items(gen, oid, created)
    ship = customer.get("shippingAddress") or customer.get("billingAddress") or {}
    bill = customer.get("billingAddress") or ship
    country = ship.get("countryCode") or "DE"
    discount_code = "WELCOME10" if rng.random() < 0.1 else None
    subtotal = sum((i["totalPrice"] for i in items), Decimal(0))
    amounts = totals(items, country, money(subtotal / 10) if discount_code else Decimal(0))
    method = "invoice" if customer.get("companyId") else rng.choice(["card", "card", "paypal"])
    payment = _payment(rng, history)
    returns = []
    if status == "delivered" and rng.random() < 0.08:
        line = rng.choice(items)
        returned = iso(parse_iso(history[-1]["changedAt"]) + timedelta(days=rng.randint(2, 13)))
        returned = min(returned, iso(gen.now))
        returns.append(
            {
                "id": gen.uid(),
                "status": "refunded",
                "refundAmount": line["totalPrice"],
                "createdAt": returned,
            }
        )
        if len(items) == 1:
            payment = "refunded"
    updated = max([history[-1]["changedAt"], *(r["createdAt"] for r in returns)])
    paid = payment in ("paid", "refunded") and method != "invoice"
    order = {
        "id": oid,
        "tenantId": tenant,
        "customerId": customer["id"],
        "customerEmail": customer["email"],
        "orderNumber": f"B2C-{created_dt.year}-{number:06d}" if rng.random() < 0.75 else "",
        "status": status,
        "paymentStatus": payment,
        "paymentMethod": method,
        "paymentProvider": PROVIDERS.get(method) if paid else None,
        "transactionId": f"txn_{rng.getrandbits(48):012x}" if paid else None,
        **amounts,
        "currency": customer.get("currency") or "EUR",
        **_flat_address("shipping", customer, ship),
        **_flat_address("billing", customer, bill),
        "notes": "Cancelled: Kunde hat storniert" if status == "cancelled" else None,
        "discountCode": discount_code,
        "source": _source(oid),
        "items": items,
        "statusHistory": history,
        "returns": returns,
        "createdAt": created,
        "updatedAt": updated,
    }
    flat: dict[str, Any] = plain(order)
    return flat


#: marketing channels the seed's orders came through (None: no attribution recorded)
SOURCES = ("email", "paid_search", "social", "affiliate", None, None)


def _source(order_id: str) -> str | None:
    """A stable channel per order id (no draw from the seed's random stream, which would
    shift every value generated after it)."""
    return SOURCES[zlib.crc32(order_id.encode()) % len(SOURCES)]


def _flat_address(side: str, customer: dict[str, Any], addr: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{side}FirstName": customer.get("firstName"),
        f"{side}LastName": customer.get("lastName"),
        f"{side}Company": None,
        f"{side}Street": addr.get("street1"),
        f"{side}City": addr.get("city"),
        f"{side}PostalCode": addr.get("postalCode"),
        f"{side}Country": addr.get("countryCode"),
        f"{side}Phone": customer.get("phone"),
    }
