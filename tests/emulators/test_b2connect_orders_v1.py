"""B2Connect emulator: the real Orders service read API, GET /api/v1/orders."""

from __future__ import annotations

import math
import re

import pytest
import requests

from emulators.b2connect import B2ConnectEmulator
from emulators.seed import SeedData


def _orders(session: requests.Session, emu: B2ConnectEmulator, **params: object):
    return session.get(f"{emu.url}/api/v1/orders", params=params, timeout=10)


def test_envelope_and_default_page(
    b2connect_emulator: B2ConnectEmulator,
    b2connect_session: requests.Session,
    b2connect_seed: SeedData,
) -> None:
    """Default page 1 of 20 with the total count and page count."""
    body = _orders(b2connect_session, b2connect_emulator).json()
    total = len(b2connect_seed.orders)
    assert set(body) == {"items", "totalCount", "page", "pageSize", "totalPages"}
    assert (body["page"], body["pageSize"], body["totalCount"]) == (1, 20, total)
    assert body["totalPages"] == math.ceil(total / 20)
    assert len(body["items"]) == 20


def test_pages_cover_every_order_once(
    b2connect_emulator: B2ConnectEmulator,
    b2connect_session: requests.Session,
    b2connect_seed: SeedData,
) -> None:
    """Walking page 1..totalPages yields each order exactly once, newest first."""
    first = _orders(b2connect_session, b2connect_emulator, pageSize=25).json()
    items = []
    for page in range(1, first["totalPages"] + 1):
        items += _orders(b2connect_session, b2connect_emulator, page=page, pageSize=25).json()[
            "items"
        ]
    assert len(items) == len({o["id"] for o in items})
    assert {o["id"] for o in items} == {o["id"] for o in b2connect_seed.orders}
    created = [o["createdAt"] for o in items]
    assert created == sorted(created, reverse=True)


def test_page_past_the_end_is_empty(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """A page beyond totalPages has no items but the same totals."""
    body = _orders(b2connect_session, b2connect_emulator, page=999).json()
    assert body["items"] == []
    assert body["page"] == 999
    assert body["totalCount"] > 0


def test_item_shape_is_camel_case_without_nulls(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Orders are camelCase, omit null fields, carry their lines, no statusHistory."""
    for order in _orders(b2connect_session, b2connect_emulator, pageSize=100).json()["items"]:
        assert None not in order.values()
        assert "statusHistory" not in order
        assert "returns" not in order
        assert order["status"] in {
            "pending",
            "confirmed",
            "processing",
            "shipped",
            "delivered",
            "cancelled",
        }
        assert order["paymentStatus"] in {"pending", "paid", "failed", "refunded"}
        assert 1 <= len(order["items"]) <= 4
        assert {"productId", "productName", "productSku", "quantity", "unitPrice"} <= set(
            order["items"][0]
        )


def test_money_has_two_decimals_in_json(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Totals are JSON numbers written with exactly two decimals, like .NET decimals."""
    raw = _orders(b2connect_session, b2connect_emulator, pageSize=5).text
    amounts = re.findall(r'"(?:subtotal|taxAmount|totalAmount|unitPrice|totalPrice)":([^,}]+)', raw)
    assert amounts
    assert all(re.fullmatch(r"-?\d+\.\d{2}", a) for a in amounts)


def test_totals_add_up(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """total = subtotal + tax - discount + shipping, and lines sum to the subtotal."""
    for o in _orders(b2connect_session, b2connect_emulator, pageSize=100).json()["items"]:
        expected = o["subtotal"] + o["taxAmount"] - o["discountAmount"] + o["shippingAmount"]
        assert o["totalAmount"] == pytest.approx(expected, abs=0.001)
        assert sum(i["totalPrice"] for i in o["items"]) == pytest.approx(o["subtotal"], abs=0.001)


def test_currency_defaults_to_eur(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """An order created without a currency is in EUR."""
    cid = b2connect_emulator.admin_list("customers")[0]["id"]
    line = {"productName": "Tee", "quantity": 2, "unitPrice": "3.10"}
    created = b2connect_emulator.admin_create("orders", {"customerId": cid, "items": [line]})
    got = b2connect_session.get(
        f"{b2connect_emulator.url}/api/v1/orders/{created['id']}", timeout=10
    ).json()
    assert got["currency"] == "EUR"
    assert got["status"] == "pending"
    assert got["orderNumber"] == ""
    assert got["subtotal"] == 6.2


def test_from_date_filters_on_created_at(
    b2connect_emulator: B2ConnectEmulator,
    b2connect_session: requests.Session,
    b2connect_seed: SeedData,
) -> None:
    """fromDate keeps orders created at or after it."""
    dates = sorted(o["createdAt"] for o in b2connect_seed.orders)
    cut = dates[len(dates) // 2]
    body = _orders(b2connect_session, b2connect_emulator, fromDate=cut, pageSize=100).json()
    assert body["totalCount"] == sum(1 for d in dates if d >= cut)
    assert all(o["createdAt"] >= cut for o in body["items"])


def test_to_date_accepts_plain_dates(
    b2connect_emulator: B2ConnectEmulator,
    b2connect_session: requests.Session,
    b2connect_seed: SeedData,
) -> None:
    """toDate as a date means midnight UTC of that day."""
    day = sorted(o["createdAt"] for o in b2connect_seed.orders)[10][:10]
    body = _orders(b2connect_session, b2connect_emulator, toDate=day, pageSize=100).json()
    midnight = f"{day}T00:00:00.000000Z"
    assert body["totalCount"] == sum(1 for o in b2connect_seed.orders if o["createdAt"] <= midnight)


def test_status_and_customer_filters(
    b2connect_emulator: B2ConnectEmulator,
    b2connect_session: requests.Session,
    b2connect_seed: SeedData,
) -> None:
    """status, paymentStatus and customerId narrow the list."""
    body = _orders(b2connect_session, b2connect_emulator, status="delivered", pageSize=100).json()
    assert body["totalCount"] == sum(1 for o in b2connect_seed.orders if o["status"] == "delivered")
    body = _orders(b2connect_session, b2connect_emulator, paymentStatus="paid", pageSize=100).json()
    assert {o["paymentStatus"] for o in body["items"]} == {"paid"}
    cid = b2connect_seed.orders[0]["customerId"]
    body = _orders(b2connect_session, b2connect_emulator, customerId=cid, pageSize=100).json()
    assert body["totalCount"] == sum(1 for o in b2connect_seed.orders if o["customerId"] == cid)


@pytest.mark.parametrize(
    "params", [{"page": 0}, {"pageSize": 0}, {"pageSize": 101}, {"fromDate": "yesterday"}]
)
def test_bad_paging_or_dates_are_400(
    b2connect_emulator: B2ConnectEmulator,
    b2connect_session: requests.Session,
    params: dict[str, object],
) -> None:
    """Out-of-range paging and unparseable dates are validation problems."""
    resp = _orders(b2connect_session, b2connect_emulator, **params)
    assert resp.status_code == 400
    assert resp.json()["errors"]


def test_get_unknown_order_is_404(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """An id that names no order of the tenant: 404 problem."""
    resp = b2connect_session.get(
        f"{b2connect_emulator.url}/api/v1/orders/00000000-0000-4000-8000-000000000000", timeout=10
    )
    assert resp.status_code == 404
