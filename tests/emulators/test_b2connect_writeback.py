"""B2Connect emulator: write-backs (PATCH customers/companies, consents, erasures)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from emulators import EMAIL_RE
from emulators.b2connect import B2ConnectEmulator
from tests.fixtures.b2connect import read_feed


def _valid_customers(emu: B2ConnectEmulator) -> list[dict[str, Any]]:
    return [c for c in emu.admin_list("customers") if EMAIL_RE.match(c["email"])]


def _valid_customer(emu: B2ConnectEmulator) -> dict[str, Any]:
    return _valid_customers(emu)[0]


def _patch(session: requests.Session, emu: B2ConnectEmulator, path: str, body: object):
    return session.patch(f"{emu.url}{path}", json=body, timeout=10)


def test_patch_customer_bumps_updated_at_and_records_change(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """A write-back changes the fields, bumps updatedAt and logs changedFields."""
    cust = _valid_customer(b2connect_emulator)
    _, watermark, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers")
    resp = _patch(
        b2connect_session,
        b2connect_emulator,
        f"/api/crm/customers/{cust['id']}",
        {"phone": "+49 30 1234567", "language": "fr"},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert (body["phone"], body["language"]) == ("+49 30 1234567", "fr")
    assert body["updatedAt"] > cust["updatedAt"]
    changes, _, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers", watermark)
    assert [(c["changeType"], c["changedFields"]) for c in changes] == [
        ("Updated", ["language", "phone"])
    ]


def test_unchanged_patch_records_nothing(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Writing the values already there is a no-op: no change, same updatedAt."""
    cust = _valid_customer(b2connect_emulator)
    _, watermark, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers")
    body = _patch(
        b2connect_session,
        b2connect_emulator,
        f"/api/crm/customers/{cust['id']}",
        {"firstName": cust["firstName"]},
    ).json()
    assert body["updatedAt"] == cust["updatedAt"]
    assert read_feed(b2connect_session, b2connect_emulator.url, "customers", watermark)[0] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"favouriteColour": "blau"}, "favouriteColour"),
        ({"isActive": "yes"}, "isActive"),
        ({"firstName": 42}, "firstName"),
        ({"customerNumber": "K-1"}, "customerNumber"),
        ({"email": "not-an-email"}, "email"),
        ({"currency": "euro"}, "currency"),
        ({"billingAddress": {"planet": "Mars"}}, "billingAddress"),
        ({"customerType": "Alien"}, "customerType"),
    ],
)
def test_bad_customer_patch_is_400(
    b2connect_emulator: B2ConnectEmulator,
    b2connect_session: requests.Session,
    body: dict[str, Any],
    field: str,
) -> None:
    """Unknown, read-only or mistyped fields: 400 problem+json naming the field."""
    cust = _valid_customer(b2connect_emulator)
    resp = _patch(b2connect_session, b2connect_emulator, f"/api/crm/customers/{cust['id']}", body)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == "application/problem+json"
    problem = resp.json()
    assert problem["title"] == "One or more validation errors occurred."
    assert field in problem["errors"]
    assert b2connect_emulator.admin_get("customers", cust["id"]) == cust


def test_non_object_body_is_400(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """A PATCH body must be a JSON object."""
    cust = _valid_customer(b2connect_emulator)
    resp = _patch(b2connect_session, b2connect_emulator, f"/api/crm/customers/{cust['id']}", [1])
    assert resp.status_code == 400


def test_company_must_exist_in_tenant(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """companyId must name a company of the same tenant."""
    cust = _valid_customer(b2connect_emulator)
    path = f"/api/crm/customers/{cust['id']}"
    bogus = {"companyId": "00000000-0000-4000-8000-000000000000"}
    assert _patch(b2connect_session, b2connect_emulator, path, bogus).status_code == 400
    company = b2connect_emulator.admin_list("companies")[0]["id"]
    body = _patch(b2connect_session, b2connect_emulator, path, {"companyId": company}).json()
    assert body["companyId"] == company


def test_email_taken_by_another_customer_is_409(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Emails stay unique per tenant."""
    first, second = _valid_customers(b2connect_emulator)[:2]
    resp = _patch(
        b2connect_session,
        b2connect_emulator,
        f"/api/crm/customers/{first['id']}",
        {"email": second["email"].upper()},
    )
    assert resp.status_code == 409


def test_patch_company(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """A company write-back updates the VAT id; its addresses list is read-only."""
    company = b2connect_emulator.admin_list("companies")[0]
    path = f"/api/crm/companies/{company['id']}"
    body = _patch(b2connect_session, b2connect_emulator, path, {"vatId": "DE999999999"}).json()
    assert body["vatId"] == "DE999999999"
    resp = _patch(b2connect_session, b2connect_emulator, path, {"addresses": []})
    assert resp.status_code == 400


def test_consent_upsert_creates_then_updates(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """POST consents: 201 for a new (subject, channel, purpose), 200 when it exists."""
    cust = _valid_customer(b2connect_emulator)
    url = f"{b2connect_emulator.url}/api/crm/consents"
    body = {
        "email": cust["email"].upper(),
        "channel": "sms",
        "purpose": "profiling",
        "status": "granted",
        "legalBasis": "consent",
        "source": "crm:hubspot",
        "capturedAt": "2026-01-10T08:00:00Z",
        "wordingVersion": "2025-01",
        "ipAddress": "2001:db8::1",
    }
    first = b2connect_session.post(url, json=body, timeout=10)
    assert first.status_code == 201
    assert first.json()["subjectId"] == cust["id"]
    assert first.headers["Location"].endswith(first.json()["id"])
    again = b2connect_session.post(
        url, json={**body, "status": "withdrawn", "capturedAt": "2026-01-11T08:00:00Z"}, timeout=10
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "withdrawn"
    assert again.json()["capturedAt"] == "2026-01-11T08:00:00.000000Z"


def test_consent_needs_a_subject(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """A consent without subjectId and email, or with an unknown subjectId, is 400."""
    url = f"{b2connect_emulator.url}/api/crm/consents"
    base = {"channel": "email", "purpose": "marketing", "status": "granted"}
    assert b2connect_session.post(url, json=base, timeout=10).status_code == 400
    unknown = {**base, "subjectId": "00000000-0000-4000-8000-000000000000"}
    assert b2connect_session.post(url, json=unknown, timeout=10).status_code == 400
    bad_channel = {**base, "email": "x@example.com", "channel": "pigeon"}
    assert b2connect_session.post(url, json=bad_channel, timeout=10).status_code == 400


def test_crm_erasure_erases_the_customer(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """POST erasures: the customer is deleted, consents too, and history keeps keys only."""
    cust = next(
        c
        for c in b2connect_emulator.admin_list("customers")
        if any(k["subjectId"] == c["id"] for k in b2connect_emulator.admin_list("consents"))
    )
    resp = b2connect_session.post(
        f"{b2connect_emulator.url}/api/crm/erasures",
        json={"email": cust["email"], "source": "hubspot", "reason": "GDPR delete in HubSpot"},
        timeout=10,
    )
    assert resp.status_code == 201
    erasure = resp.json()
    assert (erasure["status"], erasure["origin"], erasure["subjectId"]) == (
        "completed",
        "crm",
        cust["id"],
    )
    assert erasure["completedAt"]
    url = f"{b2connect_emulator.url}/api/crm/customers/{cust['id']}"
    assert b2connect_session.get(url, timeout=10).status_code == 404
    changes, _, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers")
    mine = [c for c in changes if c["data"]["id"] == cust["id"]]
    assert [c["changeType"] for c in mine][-1] == "Deleted"
    assert all(set(c["data"]) == {"id", "tenantId"} for c in mine)
    consents = [
        k for k in b2connect_emulator.admin_list("consents") if k["subjectId"] == cust["id"]
    ]
    assert consents and all(k.get("deleted") and k["email"] is None for k in consents)


def test_shop_erasure_request_progresses(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """PATCH erasures: pending -> processing -> completed, then final (409)."""
    request = b2connect_emulator.admin_list("erasures")[0]
    path = f"/api/crm/erasures/{request['id']}"
    assert request["status"] == "pending"
    body = _patch(b2connect_session, b2connect_emulator, path, {"status": "processing"}).json()
    assert body["status"] == "processing"
    body = _patch(
        b2connect_session, b2connect_emulator, path, {"status": "completed", "note": "CRMs done"}
    ).json()
    assert (body["status"], body["note"]) == ("completed", "CRMs done")
    assert b2connect_emulator.admin_get("customers", request["subjectId"])["deleted"] is True
    again = _patch(b2connect_session, b2connect_emulator, path, {"status": "processing"})
    assert again.status_code == 409


def test_erasure_patch_needs_a_known_status(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """status is required and must be one of the four values."""
    request = b2connect_emulator.admin_list("erasures")[0]
    path = f"/api/crm/erasures/{request['id']}"
    assert _patch(b2connect_session, b2connect_emulator, path, {}).status_code == 400
    assert (
        _patch(b2connect_session, b2connect_emulator, path, {"status": "done"}).status_code == 400
    )
