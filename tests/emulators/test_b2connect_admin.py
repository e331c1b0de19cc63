"""B2Connect emulator: admin API, loading seeds, shopper simulation, clock."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest
import requests

from emulators import HttpError
from emulators.b2connect import B2ConnectEmulator
from emulators.seed import SeedData, generate
from tests.fixtures.b2connect import SEED_NOW

FLOW = ["pending", "confirmed", "processing", "shipped", "delivered"]


@pytest.mark.parametrize("obj", ["customers", "companies", "orders", "consents", "erasures"])
def test_admin_list_shape(
    b2connect_emulator: B2ConnectEmulator, b2connect_seed: SeedData, obj: str
) -> None:
    """admin_list gives camelCase dicts with id and tenantId, one per seeded record."""
    rows = b2connect_emulator.admin_list(obj)
    assert len(rows) == len(getattr(b2connect_seed, obj))
    assert all(r["tenantId"] == b2connect_emulator.tenant_id and r["id"] for r in rows)
    assert all("deleted" not in r for r in rows)


def test_admin_list_over_http_uses_plain_numbers(b2connect_emulator: B2ConnectEmulator) -> None:
    """The admin HTTP API shows orders with numeric totals."""
    rows = requests.get(f"{b2connect_emulator.url}/_emulator/records/orders", timeout=10).json()
    assert isinstance(rows[0]["totalAmount"], float)
    assert isinstance(rows[0]["items"][0]["unitPrice"], float)


def test_deleted_records_are_flagged(b2connect_emulator: B2ConnectEmulator) -> None:
    """A soft-deleted record stays listed with deleted: true."""
    cid = b2connect_emulator.admin_list("customers")[0]["id"]
    b2connect_emulator.admin_patch("customers", cid, {"deleted": True})
    flagged = [r for r in b2connect_emulator.admin_list("customers") if r.get("deleted")]
    assert [r["id"] for r in flagged] == [cid]


def test_admin_create_validates(b2connect_emulator: B2ConnectEmulator) -> None:
    """Customers need an email; orders need a customerId; unknown tenants are refused."""
    with pytest.raises(HttpError) as no_email:
        b2connect_emulator.admin_create("customers", {"firstName": "Ohne"})
    assert no_email.value.status == 400
    with pytest.raises(HttpError):
        b2connect_emulator.admin_create("orders", {"items": []})
    with pytest.raises(HttpError):
        b2connect_emulator.admin_create(
            "customers",
            {"tenantId": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "email": "x@example.com"},
        )


def test_admin_create_fills_defaults(b2connect_emulator: B2ConnectEmulator) -> None:
    """A new customer gets an id, a customer number, defaults and full address objects."""
    rec = b2connect_emulator.admin_create(
        "customers", {"email": "neu@example.org", "billingAddress": {"city": "Graz"}}
    )
    assert rec["customerNumber"].startswith("K-")
    assert (rec["language"], rec["currency"], rec["isActive"]) == ("de", "EUR", True)
    assert rec["billingAddress"] == {
        "street1": None,
        "street2": None,
        "city": "Graz",
        "state": None,
        "postalCode": None,
        "countryCode": None,
    }
    assert rec["createdAt"] == rec["updatedAt"]


def test_admin_patch_rejects_unknown_fields(b2connect_emulator: B2ConnectEmulator) -> None:
    """Admin edits are validated like write-backs."""
    oid = b2connect_emulator.admin_list("orders")[0]["id"]
    with pytest.raises(HttpError) as err:
        b2connect_emulator.admin_patch("orders", oid, {"totalAmount": 1})
    assert err.value.status == 400


def test_shipped_order_cannot_be_cancelled(b2connect_emulator: B2ConnectEmulator) -> None:
    """The Orders service rule: no cancelling once shipped or delivered (409)."""
    order = next(o for o in b2connect_emulator.admin_list("orders") if o["status"] == "delivered")
    resp = requests.patch(
        f"{b2connect_emulator.url}/_emulator/records/orders/{order['id']}",
        json={"status": "cancelled"},
        timeout=10,
    )
    assert resp.status_code == 409
    assert resp.headers["Content-Type"] == "application/problem+json"


def test_reset_forgets_everything(b2connect_emulator: B2ConnectEmulator) -> None:
    """reset() empties every collection."""
    b2connect_emulator.reset()
    assert all(
        b2connect_emulator.admin_list(obj) == []
        for obj in ("customers", "companies", "orders", "consents", "erasures")
    )


def test_unknown_admin_object_is_404(b2connect_emulator: B2ConnectEmulator) -> None:
    """Only the five entities exist."""
    resp = requests.get(f"{b2connect_emulator.url}/_emulator/records/invoices", timeout=10)
    assert resp.status_code == 404


def test_load_refuses_foreign_tenant() -> None:
    """Seed data for a tenant the emulator does not serve is an error."""
    emu = B2ConnectEmulator()
    data = generate(customers=12, tenant_id="3f2504e0-4f89-41d3-9a0c-0305e82c3301", now=SEED_NOW)
    with pytest.raises(ValueError, match="not served"):
        emu.load(data)


def test_injected_clock_stamps_changes() -> None:
    """updatedAt and changedAt come from the injected clock."""
    fixed = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()
    emu = B2ConnectEmulator(clock=lambda: fixed)
    rec = emu.admin_create("customers", {"email": "uhr@example.de"})
    assert rec["updatedAt"] == "2026-03-01T12:00:00.000000Z"


def _legal_history(statuses: list[str]) -> bool:
    for before, after in itertools.pairwise(statuses):
        if after == "cancelled":
            if before in ("shipped", "delivered", "cancelled"):
                return False
        elif before not in FLOW or FLOW.index(after) != FLOW.index(before) + 1:
            return False
    return statuses[0] == "pending"


def test_simulated_orders_follow_the_status_flow(b2connect_emulator: B2ConnectEmulator) -> None:
    """After many shopper events every order's history is a legal progression."""
    b2connect_emulator.simulate_shoppers(random.Random(11), 300)
    orders = b2connect_emulator.admin_list("orders")
    for order in orders:
        statuses = [h["status"] for h in order["statusHistory"]]
        assert _legal_history(statuses), statuses
        assert statuses[-1] == order["status"]
        if order["status"] in ("confirmed", "processing", "shipped", "delivered"):
            assert order["paymentStatus"] in ("paid", "refunded")


def test_simulation_makes_varied_events(b2connect_emulator: B2ConnectEmulator) -> None:
    """Sign-ups, orders, progressions, cancellations and opt-outs all happen."""
    events = b2connect_emulator.simulate_shoppers(random.Random(2), 400)
    kinds = {e["event"] for e in events}
    assert {"customer.signup", "order.placed", "order.confirmed", "order.cancelled"} <= kinds
    assert "consent.withdrawn" in kinds
    assert any(k in kinds for k in ("order.delivered", "order.shipped"))
