"""Shopper simulation for demos: sign-ups, orders moving through their life, opt-outs.

Every event goes through the shop like an admin edit would, so it is recorded in the delta
feeds and fires its webhook.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from emulators import _fakedata as fake
from emulators.b2connect._orders import next_status
from emulators.b2connect._shop import Shop
from emulators.b2connect._store import Row

Event = dict[str, Any]

CANCEL_REASONS = ("Kunde hat storniert", "Artikel nicht lieferbar", "Doppelte Bestellung")


def _new_customer(shop: Shop, rng: random.Random, tenant: str) -> Event:
    country = fake.pick_country(rng)
    first = rng.choice(fake.FIRST_NAMES[country])
    last = rng.choice(fake.LAST_NAMES[country])
    taken = {(r.data.get("email") or "").casefold() for r in shop.store.rows["customers"].values()}
    email = ""
    while not email or email.casefold() in taken:
        slug = fake.ascii_slug(f"{first} {last}")
        email = f"{slug}.{rng.randint(10, 9999)}@{rng.choice(fake.EMAIL_DOMAINS)}"
    addr = fake.address(rng, country)
    row = shop.create(
        "customers",
        tenant,
        {
            "email": email,
            "firstName": first,
            "lastName": last,
            "phone": fake.phone(rng, country),
            "language": fake.LANGUAGES[country],
            "currency": fake.CURRENCIES[country],
            "billingAddress": addr,
            "shippingAddress": dict(addr),
        },
        notify=True,
    )
    if rng.random() < 0.6:
        for purpose in ("marketing", "newsletter"):
            shop.upsert_consent(
                tenant,
                {
                    "subjectId": row.id,
                    "channel": "email",
                    "purpose": purpose,
                    "status": "granted",
                    "legalBasis": "consent",
                    "source": "registration",
                    "wordingVersion": "2025-01",
                    "ipAddress": fake.ip_address(rng),
                },
                notify=True,
            )
    return {"event": "customer.signup", "id": row.id}


def _update_customer(shop: Shop, rng: random.Random, tenant: str) -> Event | None:
    people = [r for r in shop.store.live("customers", tenant) if r.data.get("email")]
    if not people:
        return None
    row = rng.choice(people)
    country = (row.data.get("billingAddress") or {}).get("countryCode") or "DE"
    if rng.random() < 0.5:
        changes: dict[str, Any] = {"phone": fake.phone(rng, country)}
    else:
        changes = {"shippingAddress": fake.address(rng, country)}
    shop.update(row, changes, notify=True)
    return {"event": "customer.profile_edit", "id": row.id}


def _new_order(shop: Shop, rng: random.Random, tenant: str) -> Event | None:
    people = [r for r in shop.store.live("customers", tenant) if r.data.get("email")]
    if not people:
        return None
    who = rng.choice(people).data
    addr = who.get("shippingAddress") or who.get("billingAddress") or fake.address(rng, "DE")
    items = [
        {
            "productName": p.name,
            "productSku": p.sku,
            "quantity": rng.choice([1, 1, 1, 2, 3]),
            "unitPrice": p.price,
        }
        for p in rng.sample(fake.PRODUCTS, rng.randint(1, 4))
    ]
    row = shop.create(
        "orders",
        tenant,
        {
            "customerId": who["id"],
            "customerEmail": who["email"],
            "currency": who.get("currency") or "EUR",
            "shippingFirstName": who.get("firstName"),
            "shippingLastName": who.get("lastName"),
            "shippingStreet": addr.get("street1"),
            "shippingCity": addr.get("city"),
            "shippingPostalCode": addr.get("postalCode"),
            "shippingCountry": addr.get("countryCode") or "DE",
            "shippingPhone": who.get("phone"),
            "items": items,
        },
        notify=True,
    )
    return {"event": "order.placed", "id": row.id}


def _orders(shop: Shop, tenant: str, statuses: tuple[str, ...]) -> list[Row]:
    return [r for r in shop.store.live("orders", tenant) if r.data["status"] in statuses]


def _progress_order(shop: Shop, rng: random.Random, tenant: str) -> Event | None:
    open_orders = _orders(shop, tenant, ("pending", "confirmed", "processing", "shipped"))
    open_orders = [r for r in open_orders if r.data["paymentStatus"] != "failed"]
    if not open_orders:
        return None
    row = rng.choice(open_orders)
    status = next_status(row.data["status"])
    changes: dict[str, Any] = {"status": status}
    if status == "confirmed" and row.data["paymentStatus"] == "pending":
        changes.update(
            {
                "paymentStatus": "paid",
                "paymentProvider": rng.choice(["stripe", "paypal", "klarna"]),
                "transactionId": f"txn_{rng.getrandbits(48):012x}",
            }
        )
    shop.update(row, changes, notify=True)
    return {"event": f"order.{status}", "id": row.id}


def _payment_failed(shop: Shop, rng: random.Random, tenant: str) -> Event | None:
    rows = [r for r in _orders(shop, tenant, ("pending",)) if r.data["paymentStatus"] == "pending"]
    if not rows:
        return None
    row = rng.choice(rows)
    shop.update(row, {"paymentStatus": "failed"}, notify=True)
    return {"event": "order.payment_failed", "id": row.id}


def _cancel_order(shop: Shop, rng: random.Random, tenant: str) -> Event | None:
    rows = _orders(shop, tenant, ("pending", "confirmed", "processing"))
    if not rows:
        return None
    row = rng.choice(rows)
    changes: dict[str, Any] = {
        "status": "cancelled",
        "notes": f"Cancelled: {rng.choice(CANCEL_REASONS)}",
    }
    if row.data["paymentStatus"] == "paid":
        changes["paymentStatus"] = "refunded"
    shop.update(row, changes, notify=True)
    return {"event": "order.cancelled", "id": row.id}


def _return_order(shop: Shop, rng: random.Random, tenant: str) -> Event | None:
    rows = [r for r in _orders(shop, tenant, ("delivered",)) if not r.data["returns"]]
    if not rows:
        return None
    row = rng.choice(rows)
    line = rng.choice(row.data["items"])
    ret = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "status": "requested",
        "refundAmount": Decimal(line["totalPrice"]),
        "createdAt": shop.now(),
    }
    shop.update(row, {"returns": [*row.data["returns"], ret]}, notify=True)
    return {"event": "order.return_requested", "id": row.id}


def _withdraw_consent(shop: Shop, rng: random.Random, tenant: str) -> Event | None:
    rows = [r for r in shop.store.live("consents", tenant) if r.data["status"] == "granted"]
    if not rows:
        return None
    row = rng.choice(rows)
    changes = {
        "status": "withdrawn",
        "capturedAt": shop.now(),
        "source": rng.choice(["preference-center", "unsubscribe-link"]),
    }
    shop.update(row, changes, notify=True)
    return {"event": "consent.withdrawn", "id": row.id}


def _request_erasure(shop: Shop, rng: random.Random, tenant: str) -> Event | None:
    people = [r for r in shop.store.live("customers", tenant) if r.data.get("email")]
    pending = {r.data.get("subjectId") for r in shop.store.live("erasures", tenant)}
    people = [r for r in people if r.id not in pending]
    if not people:
        return None
    who = rng.choice(people)
    data = {
        "subjectId": who.id,
        "email": who.data["email"],
        "origin": "b2connect",
        "status": "pending",
        "requestedAt": shop.now(),
        "reason": "Art. 17 GDPR request from the customer account page",
    }
    row = shop.create("erasures", tenant, data, notify=True)
    return {"event": "erasure.requested", "id": row.id}


Action = Callable[[Shop, random.Random, str], Event | None]
ACTIONS: list[tuple[Action, int]] = [
    (_new_customer, 14),
    (_update_customer, 10),
    (_new_order, 24),
    (_progress_order, 30),
    (_payment_failed, 4),
    (_cancel_order, 5),
    (_return_order, 4),
    (_withdraw_consent, 9),
    (_request_erasure, 1),
]


def simulate(shop: Shop, rng: random.Random, n_events: int, tenant: str) -> list[Event]:
    """Make ``n_events`` shopper events; an event without candidates becomes a new order."""
    events: list[Event] = []
    actions, weights = zip(*ACTIONS, strict=True)
    for _ in range(n_events):
        action = rng.choices(actions, weights=weights)[0]
        event = action(shop, rng, tenant) or _new_order(shop, rng, tenant)
        events.append(event or _new_customer(shop, rng, tenant))
    return events
