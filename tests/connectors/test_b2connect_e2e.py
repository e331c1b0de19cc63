"""B2Connect connector end-to-end against the emulator: delta feeds, write-back, erasure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.b2connect import B2ConnectConnector
from connectors.errors import Fatal, Retriable
from connectors.records import Page, Subject, WriteItem
from emulators.b2connect import B2ConnectEmulator
from mapping.config import B2ConnectConnection

TENANT_A = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
TENANT_B = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


@pytest.fixture(scope="module")
def b2c_server() -> Iterator[B2ConnectEmulator]:
    emu = B2ConnectEmulator(tenants=[TENANT_A, TENANT_B])
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def emu(b2c_server: B2ConnectEmulator) -> B2ConnectEmulator:
    b2c_server.reset()
    b2c_server.webhook_url = None
    return b2c_server


def connect(emu: B2ConnectEmulator, tenant: str = TENANT_A, **kw: Any) -> B2ConnectConnector:
    token = kw.pop("token", None) or emu.token_for(tenant)
    return B2ConnectConnector(url=emu.url, token=token, tenant_id=tenant, **kw)


def add_customers(emu: B2ConnectEmulator, n: int, tenant: str = TENANT_A) -> list[str]:
    return [
        emu.admin_create(
            "customers", {"tenantId": tenant, "email": f"p{i}.{tenant[:4]}@example.com"}
        )["id"]
        for i in range(n)
    ]


def keys(pages: list[Page]) -> list[str]:
    return [r.key for p in pages for r in p.records]


def test_full_read_follows_the_feed_across_pages(emu: B2ConnectEmulator) -> None:
    """A first read returns every change, one Page per response, the last without more."""
    ids = add_customers(emu, 5)
    pages = list(connect(emu, batch_size=2).read_changes("customers", None))
    assert [len(p.records) for p in pages] == [2, 2, 1]
    assert [p.has_more for p in pages] == [True, True, False]
    assert keys(pages) == ids
    last = pages[-1].cursor
    assert last is not None and last["continuationToken"] is None and last["watermark"]


def test_records_carry_tenant_and_change_time(emu: B2ConnectEmulator) -> None:
    """Records have the configured tenant, changedAt as updated_at and the data as fields."""
    [cid] = add_customers(emu, 1)
    [page] = list(connect(emu).read_changes("customers", None))
    record = page.records[0]
    assert record.tenant_id == TENANT_A
    assert record.updated_at is not None and record.fields["id"] == cid
    assert record.fields["email"].startswith("p0.")


def test_resume_mid_feed_from_a_continuation_cursor(emu: B2ConnectEmulator) -> None:
    """A crash after page 1 resumes from its cursor and reads only the rest."""
    ids = add_customers(emu, 5)
    first = next(iter(connect(emu, batch_size=2).read_changes("customers", None)))
    assert first.cursor is not None and first.cursor["continuationToken"]
    rest = list(connect(emu, batch_size=2).read_changes("customers", first.cursor))
    assert keys([first, *rest]) == ids


def test_incremental_read_after_an_admin_edit(emu: B2ConnectEmulator) -> None:
    """After a drained read, only the edited record comes back, with the new value."""
    ids = add_customers(emu, 3)
    conn = connect(emu)
    cursor = list(conn.read_changes("customers", None))[-1].cursor
    emu.admin_patch("customers", ids[1], {"firstName": "Zoe"})
    pages = list(conn.read_changes("customers", cursor))
    assert keys(pages) == [ids[1]]
    assert pages[0].records[0].fields["firstName"] == "Zoe"


def test_nothing_new_yields_one_empty_page(emu: B2ConnectEmulator) -> None:
    """A read with no new changes yields one empty page keeping the watermark."""
    add_customers(emu, 2)
    conn = connect(emu)
    cursor = list(conn.read_changes("customers", None))[-1].cursor
    [page] = list(conn.read_changes("customers", cursor))
    assert page.records == [] and page.cursor == cursor


def test_deleted_and_restored_changes(emu: B2ConnectEmulator) -> None:
    """A Deleted change gives deleted=True; a later Restored gives deleted=False."""
    [cid] = add_customers(emu, 1)
    conn = connect(emu)
    cursor = list(conn.read_changes("customers", None))[-1].cursor
    emu.admin_patch("customers", cid, {"deleted": True})
    emu.admin_patch("customers", cid, {"deleted": False})
    records = [r for p in conn.read_changes("customers", cursor) for r in p.records]
    assert [(r.key, r.deleted) for r in records] == [(cid, True), (cid, False)]


def test_tenant_isolation(emu: B2ConnectEmulator) -> None:
    """A connector for tenant A never sees tenant B's records."""
    mine = add_customers(emu, 2, TENANT_A)
    add_customers(emu, 3, TENANT_B)
    pages = list(connect(emu, TENANT_A).read_changes("customers", None))
    assert keys(pages) == mine
    assert {r.fields["tenantId"] for p in pages for r in p.records} == {TENANT_A}


def test_token_of_another_tenant_is_fatal_naming_the_header(emu: B2ConnectEmulator) -> None:
    """A token for tenant B with X-Tenant-ID of tenant A is refused with a tenant message."""
    conn = connect(emu, TENANT_A, token=emu.token_for(TENANT_B))
    with pytest.raises(Fatal, match="X-Tenant-ID"):
        list(conn.read_changes("customers", None))
    assert any("X-Tenant-ID" in p for p in conn.check())


def test_expired_token_is_fatal(emu: B2ConnectEmulator) -> None:
    """An expired JWT stops the pipeline with 'B2Connect rejected the token'."""
    conn = connect(emu, token=emu.token_for(lifetime_s=-60))
    with pytest.raises(Fatal, match="B2Connect rejected the token"):
        list(conn.read_changes("customers", None))


def test_rotated_token_is_picked_up_after_a_401(emu: B2ConnectEmulator) -> None:
    """An expired token is replaced by re-reading the secret once, and the read succeeds."""
    add_customers(emu, 1)
    fresh = emu.token_for()
    conn = connect(emu, token=emu.token_for(lifetime_s=-60), refresh_token=lambda: fresh)
    assert len(keys(list(conn.read_changes("customers", None)))) == 1


def test_missing_permission_on_write_is_fatal(emu: B2ConnectEmulator) -> None:
    """A read-only token writing back gets Fatal naming the CrmPermissions claim."""
    [cid] = add_customers(emu, 1)
    conn = connect(emu, token=emu.token_for(permissions=["ReadCustomers"]))
    with pytest.raises(Fatal, match="CrmPermissions"):
        conn.write("customers", [WriteItem(cid, {"firstName": "Ann"})])


def test_injected_503_is_retriable_with_retry_after(emu: B2ConnectEmulator) -> None:
    """An emulator 503 with Retry-After surfaces as Retriable(retry_after)."""
    emu.faults = emu.faults.from_json(
        {
            "rules": [
                {
                    "match": "GET /api/crm/{entity}/delta",
                    "status": 503,
                    "headers": {"Retry-After": "4"},
                }
            ]
        }
    )
    with pytest.raises(Retriable) as info:
        list(connect(emu).read_changes("customers", None))
    assert info.value.retry_after == 4.0


def test_connection_reset_is_retriable(emu: B2ConnectEmulator) -> None:
    """A connection dropped mid-response is Retriable."""
    emu.faults = emu.faults.from_json({"rules": [{"kind": "reset", "times": 1}]})
    with pytest.raises(Retriable):
        list(connect(emu).read_changes("customers", None))


def test_write_back_changes_a_customer(emu: B2ConnectEmulator) -> None:
    """A PATCH write-back changes the customer and shows in the feed as an Update."""
    [cid] = add_customers(emu, 1)
    conn = connect(emu)
    cursor = list(conn.read_changes("customers", None))[-1].cursor
    [result] = conn.write("customers", [WriteItem(cid, {"firstName": "Ann", "phone": "+49301234"})])
    assert result.ok and result.crm_id == cid
    assert emu.admin_get("customers", cid)["firstName"] == "Ann"
    [page] = list(conn.read_changes("customers", cursor))
    assert page.records[0].fields["phone"] == "+49301234"


def test_write_back_failures_are_per_record(emu: B2ConnectEmulator) -> None:
    """Validation (with field), unknown id and email clash fail only their own records."""
    a, b = add_customers(emu, 2)
    taken = emu.admin_get("customers", b)["email"]
    batch = [
        WriteItem(a, {"customerType": "Alien"}),
        WriteItem("00000000-0000-0000-0000-000000000000", {"firstName": "X"}),
        WriteItem(a, {"email": taken}),
        WriteItem(b, {"lastName": "Ok"}),
    ]
    results = connect(emu).write("customers", batch)
    errors = [(r.error.code, r.error.field) if r.error else None for r in results]
    assert errors == [("VALIDATION", "customerType"), ("NOT_FOUND", None), ("CONFLICT", None), None]


def test_consent_write_is_an_upsert(emu: B2ConnectEmulator) -> None:
    """POST /api/crm/consents creates once, then updates the same consent."""
    [cid] = add_customers(emu, 1)
    consent = {"subjectId": cid, "channel": "email", "purpose": "newsletter", "status": "granted"}
    conn = connect(emu)
    [first] = conn.write("consents", [WriteItem(f"{cid}:email:newsletter", consent)])
    [second] = conn.write(
        "consents", [WriteItem(f"{cid}:email:newsletter", {**consent, "status": "withdrawn"})]
    )
    assert first.created and not second.created and first.crm_id == second.crm_id
    assert emu.admin_get("consents", str(first.crm_id))["status"] == "withdrawn"


def test_erase_registers_and_completes_the_erasure(emu: B2ConnectEmulator) -> None:
    """erase() posts the erasure; B2Connect anonymises the customer; done is True."""
    [cid] = add_customers(emu, 1)
    result = connect(emu).erase(Subject(b2connect_id=cid, request_id="req-1"))
    assert result.done and result.system == "b2connect"
    after = emu.admin_get("customers", cid)
    assert after["email"] is None and after.get("deleted") is True


def test_erase_without_identifiers_is_not_done(emu: B2ConnectEmulator) -> None:
    """A subject with neither id nor email is reported as not done, without a call."""
    conn = connect(emu)
    assert not conn.erase(Subject(crm_ids={"hubspot": "1"})).done
    assert sum(conn.calls.values()) == 0


def test_connector_and_emulator_count_the_same_calls(emu: B2ConnectEmulator) -> None:
    """calls uses the emulator's route keys, so the two counters agree."""
    add_customers(emu, 3)
    conn = connect(emu, batch_size=1)
    list(conn.read_changes("customers", None))
    assert conn.calls == emu.calls


def test_check_is_clean_against_a_healthy_emulator(emu: B2ConnectEmulator) -> None:
    """check() reports nothing when token, tenant and feed are fine."""
    assert connect(emu).check() == []


def test_from_config_resolves_secrets_and_rereads_the_token(emu: B2ConnectEmulator) -> None:
    """from_config resolves ${ENV} references and re-reads the token after a 401."""
    add_customers(emu, 1)
    env = {
        "B2C_URL": emu.url,
        "B2C_TOKEN": emu.token_for(lifetime_s=-60),
        "B2C_TENANT": TENANT_A,
    }
    config = B2ConnectConnection.model_validate(
        {
            "type": "b2connect",
            "url": "${B2C_URL}",
            "token": "${B2C_TOKEN}",
            "tenant_id": "${B2C_TENANT}",
        }
    )
    conn = B2ConnectConnector.from_config(config, secrets=lambda v: env.get(v[2:-1], v))
    env["B2C_TOKEN"] = emu.token_for()
    assert len(keys(list(conn.read_changes("customers", None)))) == 1
    assert conn.calls["GET /api/crm/{entity}/delta"] == 2
