"""Connector parts the pull relies on: B2Connect reads by id, Salesforce's integration user."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.b2connect import B2ConnectConnector
from connectors.base import SupportsFetch, SupportsIdentity
from connectors.records import WriteItem
from emulators.b2connect import B2ConnectEmulator
from emulators.salesforce import SalesforceEmulator
from tests.connectors.salesforce_support import Connectors, contacts

TENANT = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
FETCH = "GET /api/crm/{entity}/{rid}"


@pytest.fixture(scope="module")
def b2c_server() -> Iterator[B2ConnectEmulator]:
    emu = B2ConnectEmulator(tenants=[TENANT])
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def b2c(b2c_server: B2ConnectEmulator) -> Iterator[B2ConnectConnector]:
    b2c_server.reset()
    conn = B2ConnectConnector(
        url=b2c_server.url, token=b2c_server.token_for(TENANT), tenant_id=TENANT
    )
    yield conn
    conn.close()


@pytest.fixture
def sf(salesforce_emulator: SalesforceEmulator) -> Iterator[Connectors]:
    made = Connectors(salesforce_emulator)
    yield made
    made.close()


def _customer(emu: B2ConnectEmulator, email: str) -> str:
    return str(emu.admin_create("customers", {"tenantId": TENANT, "email": email})["id"])


def test_fetch_returns_the_current_records_one_call_each(
    b2c_server: B2ConnectEmulator, b2c: B2ConnectConnector
) -> None:
    """Records are read by id with their update time; one GET per record."""
    ids = [_customer(b2c_server, f"f{i}@example.com") for i in range(3)]
    found = b2c.fetch("customers", ids)
    assert sorted(found) == sorted(ids)
    assert found[ids[0]].fields["email"] == "f0@example.com"
    assert found[ids[0]].updated_at is not None
    assert b2c.calls[FETCH] == 3
    assert isinstance(b2c, SupportsFetch)


def test_fetch_leaves_out_deleted_and_unknown_records(
    b2c_server: B2ConnectEmulator, b2c: B2ConnectConnector
) -> None:
    """A deleted customer (404) is simply absent from the answer."""
    live, gone = _customer(b2c_server, "a@example.com"), _customer(b2c_server, "b@example.com")
    b2c_server.admin_patch("customers", gone, {"deleted": True})
    found = b2c.fetch("customers", [live, gone, "00000000-0000-0000-0000-000000000000"])
    assert list(found) == [live]


def test_a_write_back_shows_in_the_next_fetch(
    b2c_server: B2ConnectEmulator, b2c: B2ConnectConnector
) -> None:
    """A PATCH through the write-back route changes what the next read returns."""
    rid = _customer(b2c_server, "w@example.com")
    [result] = b2c.write("customers", [WriteItem(rid, {"billingAddress": {"city": "Oslo"}})])
    assert result.ok
    assert b2c.fetch("customers", [rid])[rid].fields["billingAddress"]["city"] == "Oslo"


def test_salesforce_knows_its_integration_user(
    salesforce_emulator: SalesforceEmulator, sf: Connectors
) -> None:
    """The session's user id comes from userinfo once, and stamps the connector's writes."""
    conn = sf()
    assert isinstance(conn, SupportsIdentity)
    user = conn.integration_user()
    assert user == salesforce_emulator.integration_user_id
    assert conn.integration_user() == user
    assert conn.calls["GET /services/oauth2/userinfo"] == 1
    [written] = conn.write("Contact", contacts(1))
    row = salesforce_emulator.admin_get("Contact", str(written.crm_id))
    assert row["LastModifiedById"] == user


def test_a_salesforce_user_edit_is_stamped_with_another_user(
    salesforce_emulator: SalesforceEmulator, sf: Connectors
) -> None:
    """An edit through the admin API (a CRM user) is not stamped with the integration user."""
    conn = sf()
    [written] = conn.write("Contact", contacts(1))
    row = salesforce_emulator.admin_patch("Contact", str(written.crm_id), {"LastName": "Edited"})
    assert row["LastModifiedById"] != conn.integration_user()
