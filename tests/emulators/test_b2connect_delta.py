"""B2Connect emulator: delta feeds, watermarks, continuation tokens, change types."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import requests

from emulators.b2connect import B2ConnectEmulator
from emulators.seed import SeedData, generate
from tests.fixtures.b2connect import SEED_NOW, read_feed

TENANT_B = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


def _delta(session: requests.Session, emu: B2ConnectEmulator, entity: str, **params: object):
    return session.get(f"{emu.url}/api/crm/{entity}/delta", params=params, timeout=10)


def test_full_read_pages_through_every_change(
    b2connect_emulator: B2ConnectEmulator,
    b2connect_session: requests.Session,
    b2connect_seed: SeedData,
) -> None:
    """Without a watermark the feed returns every seeded customer, page by page."""
    changes, watermark, pages = read_feed(
        b2connect_session, b2connect_emulator.url, "customers", batchSize=7
    )
    assert len(changes) == len(b2connect_seed.customers)
    assert pages == math.ceil(len(changes) / 7)
    assert {c["data"]["id"] for c in changes} == {c["id"] for c in b2connect_seed.customers}
    assert all(c["changeType"] == "Created" for c in changes)
    assert int(watermark) >= max(int(c["watermark"]) for c in changes)


def test_changes_come_in_sequence_order(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Watermarks of successive changes strictly increase."""
    changes, _, _ = read_feed(b2connect_session, b2connect_emulator.url, "orders", batchSize=50)
    seqs = [int(c["watermark"]) for c in changes]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)


def test_first_page_has_continuation_token(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """A partial page says hasMore with an opaque token and a safe newWatermark."""
    body = _delta(b2connect_session, b2connect_emulator, "customers", batchSize=3).json()
    assert body["hasMore"] is True
    assert isinstance(body["continuationToken"], str)
    assert len(body["changes"]) == 3
    assert body["newWatermark"] == body["changes"][-1]["watermark"]


def test_watermark_returns_only_later_changes(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """After a full read, the stored watermark yields only the new change."""
    _, watermark, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers")
    cid = b2connect_emulator.admin_list("customers")[0]["id"]
    b2connect_emulator.admin_patch("customers", cid, {"firstName": "Renée"})
    changes, newer, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers", watermark)
    assert [(c["changeType"], c["data"]["id"]) for c in changes] == [("Updated", cid)]
    assert changes[0]["changedFields"] == ["firstName"]
    assert changes[0]["data"]["firstName"] == "Renée"
    assert int(newer) > int(watermark)


def test_empty_read_keeps_position(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Reading at the head returns no changes, no token and hasMore false."""
    _, watermark, _ = read_feed(b2connect_session, b2connect_emulator.url, "companies")
    body = _delta(b2connect_session, b2connect_emulator, "companies", watermark=watermark).json()
    assert body["changes"] == []
    assert body["hasMore"] is False
    assert body["continuationToken"] is None
    assert int(body["newWatermark"]) >= int(watermark)


def test_changes_during_paging_arrive_in_next_read(
    b2connect_emulator: B2ConnectEmulator,
    b2connect_session: requests.Session,
    b2connect_seed: SeedData,
) -> None:
    """A read is bounded at its start; a customer created mid-read comes next time."""
    first = _delta(b2connect_session, b2connect_emulator, "customers", batchSize=10).json()
    created = b2connect_emulator.admin_create("customers", {"email": "neu.kunde@example.de"})
    seen = list(first["changes"])
    token, body = first["continuationToken"], first
    while token:
        body = _delta(
            b2connect_session,
            b2connect_emulator,
            "customers",
            continuationToken=token,
            batchSize=10,
        ).json()
        seen.extend(body["changes"])
        token = body["continuationToken"]
    assert len(seen) == len(b2connect_seed.customers)
    assert created["id"] not in {c["data"]["id"] for c in seen}
    later, _, _ = read_feed(
        b2connect_session, b2connect_emulator.url, "customers", body["newWatermark"]
    )
    assert [c["data"]["id"] for c in later] == [created["id"]]


def test_all_four_change_types(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Created, Updated, Deleted (keys only) and Restored (whole record) in order."""
    _, watermark, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers")
    rec = b2connect_emulator.admin_create("customers", {"email": "vier.typen@example.org"})
    b2connect_emulator.admin_patch("customers", rec["id"], {"lastName": "Vogel"})
    b2connect_emulator.admin_patch("customers", rec["id"], {"deleted": True})
    b2connect_emulator.admin_patch("customers", rec["id"], {"deleted": False})
    changes, _, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers", watermark)
    assert [c["changeType"] for c in changes] == ["Created", "Updated", "Deleted", "Restored"]
    assert changes[2]["data"] == {"id": rec["id"], "tenantId": b2connect_emulator.tenant_id}
    assert changes[3]["data"]["email"] == "vier.typen@example.org"
    assert changes[3]["data"]["lastName"] == "Vogel"


def test_deleted_record_is_not_found(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """GET of a deleted customer answers 404; restoring brings it back."""
    cid = b2connect_emulator.admin_list("customers")[1]["id"]
    url = f"{b2connect_emulator.url}/api/crm/customers/{cid}"
    b2connect_emulator.admin_patch("customers", cid, {"deleted": True})
    assert b2connect_session.get(url, timeout=10).status_code == 404
    b2connect_emulator.admin_patch("customers", cid, {"deleted": False})
    assert b2connect_session.get(url, timeout=10).json()["id"] == cid


def test_change_data_is_a_snapshot(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Each change carries the record as it was right after that change."""
    _, watermark, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers")
    cid = b2connect_emulator.admin_list("customers")[2]["id"]
    b2connect_emulator.admin_patch("customers", cid, {"firstName": "Erst"})
    b2connect_emulator.admin_patch("customers", cid, {"firstName": "Dann"})
    changes, _, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers", watermark)
    assert [c["data"]["firstName"] for c in changes] == ["Erst", "Dann"]


def test_nested_address_change_names_the_subfield(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """changedFields reports billingAddress.city, not the whole address."""
    _, watermark, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers")
    cid = b2connect_emulator.admin_list("customers")[3]["id"]
    b2connect_emulator.admin_patch("customers", cid, {"billingAddress": {"city": "Wuppertal"}})
    changes, _, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers", watermark)
    assert changes[0]["changedFields"] == ["billingAddress.city"]
    assert changes[0]["data"]["billingAddress"]["city"] == "Wuppertal"
    assert changes[0]["data"]["billingAddress"]["countryCode"]


def test_order_status_change_records_history(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """An admin status change appends to statusHistory and names both fields."""
    order = next(
        o for o in b2connect_emulator.admin_list("orders") if o["status"] in ("pending", "shipped")
    )
    _, watermark, _ = read_feed(b2connect_session, b2connect_emulator.url, "orders")
    target = "confirmed" if order["status"] == "pending" else "delivered"
    b2connect_emulator.admin_patch("orders", order["id"], {"status": target})
    changes, _, _ = read_feed(b2connect_session, b2connect_emulator.url, "orders", watermark)
    assert changes[0]["changedFields"] == ["status", "statusHistory"]
    assert changes[0]["data"]["statusHistory"][-1]["status"] == target


def test_feeds_are_per_entity(
    b2connect_emulator: B2ConnectEmulator,
    b2connect_session: requests.Session,
    b2connect_seed: SeedData,
) -> None:
    """Each entity's feed holds that entity only."""
    for entity in ("companies", "orders", "consents", "erasures"):
        changes, _, _ = read_feed(b2connect_session, b2connect_emulator.url, entity, batchSize=1000)
        expected = {r["id"] for r in getattr(b2connect_seed, entity)}
        assert {c["data"]["id"] for c in changes} == expected


@pytest.mark.parametrize("size", ["0", "1001", "ten"])
def test_batch_size_out_of_range_is_400(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session, size: str
) -> None:
    """batchSize must be an integer from 1 to 1000."""
    resp = _delta(b2connect_session, b2connect_emulator, "customers", batchSize=size)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == "application/problem+json"


def test_default_batch_size_is_100(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Without batchSize a page holds at most 100 changes."""
    cid = b2connect_emulator.admin_list("customers")[0]["id"]
    line = {"productName": "Kaffee", "quantity": 1, "unitPrice": 9.5}
    for _ in range(40):
        b2connect_emulator.admin_create("orders", {"customerId": cid, "items": [line]})
    body = _delta(b2connect_session, b2connect_emulator, "orders").json()
    assert len(body["changes"]) == 100
    assert body["hasMore"] is True


def test_tampered_continuation_token_is_400(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """The token is opaque and tamper-evident."""
    token = _delta(b2connect_session, b2connect_emulator, "customers", batchSize=2).json()[
        "continuationToken"
    ]
    resp = _delta(b2connect_session, b2connect_emulator, "customers", continuationToken=token + "x")
    assert resp.status_code == 400


def test_token_of_another_feed_is_400(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """A customers token cannot continue the orders feed."""
    token = _delta(b2connect_session, b2connect_emulator, "customers", batchSize=2).json()[
        "continuationToken"
    ]
    resp = _delta(b2connect_session, b2connect_emulator, "orders", continuationToken=token)
    assert resp.status_code == 400


def test_non_numeric_watermark_is_400(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """A watermark is a sequence number."""
    resp = _delta(b2connect_session, b2connect_emulator, "customers", watermark="2025-01-01")
    assert resp.status_code == 400


def test_watermark_ahead_of_feed_is_410(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """A watermark the feed never reached means a rebuilt feed: 410 Gone."""
    resp = _delta(b2connect_session, b2connect_emulator, "customers", watermark="999999999")
    assert resp.status_code == 410
    assert resp.json()["status"] == 410


def test_unknown_entity_is_404(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Only the five documented entities have feeds."""
    assert _delta(b2connect_session, b2connect_emulator, "invoices").status_code == 404


@pytest.fixture
def two_tenants() -> Iterator[B2ConnectEmulator]:
    """An emulator serving two tenants; the default one seeded, the second nearly empty."""
    emu = B2ConnectEmulator(tenants=["7c9e6679-7425-40de-944b-e07fc1f90ae7", TENANT_B])
    emu.load(generate(customers=12, seed=3, now=SEED_NOW))
    emu.admin_create("customers", {"tenantId": TENANT_B, "email": "nur.b@example.com"})
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def _session(emu: B2ConnectEmulator, tenant: str) -> requests.Session:
    s = requests.Session()
    s.headers.update({"Authorization": f"Bearer {emu.token_for(tenant)}", "X-Tenant-ID": tenant})
    return s


def test_tenants_see_only_their_records(two_tenants: B2ConnectEmulator) -> None:
    """Each tenant's feed holds only its own customers."""
    with _session(two_tenants, TENANT_B) as b, _session(two_tenants, two_tenants.tenant_id) as a:
        only_b, _, _ = read_feed(b, two_tenants.url, "customers")
        only_a, _, _ = read_feed(a, two_tenants.url, "customers")
    assert [c["data"]["email"] for c in only_b] == ["nur.b@example.com"]
    assert len(only_a) == 12
    assert all(c["data"]["tenantId"] == two_tenants.tenant_id for c in only_a)


def test_other_tenants_record_is_not_found(two_tenants: B2ConnectEmulator) -> None:
    """Another tenant's record answers 404 on read and write, never 403."""
    b_id = next(r["id"] for r in two_tenants.admin_list("customers") if r["tenantId"] == TENANT_B)
    with _session(two_tenants, two_tenants.tenant_id) as a:
        url = f"{two_tenants.url}/api/crm/customers/{b_id}"
        assert a.get(url, timeout=10).status_code == 404
        assert a.patch(url, json={"firstName": "X"}, timeout=10).status_code == 404
        orders = a.get(f"{two_tenants.url}/api/v1/orders", timeout=10).json()
    assert orders["totalCount"] > 0
    assert {o["tenantId"] for o in orders["items"]} == {two_tenants.tenant_id}
