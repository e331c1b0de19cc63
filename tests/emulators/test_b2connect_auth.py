"""B2Connect emulator: JWT bearer and X-Tenant-ID rules."""

from __future__ import annotations

import jwt
import requests

from emulators.b2connect import B2ConnectEmulator

OTHER_TENANT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


def _get(emu: B2ConnectEmulator, headers: dict[str, str], path: str = "/api/crm/customers/delta"):
    return requests.get(emu.url + path, headers=headers, timeout=10)


def _headers(token: str, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Tenant-ID": tenant}


def test_missing_token_is_401_with_challenge(b2connect_emulator: B2ConnectEmulator) -> None:
    """No Authorization header: 401 problem+json with WWW-Authenticate: Bearer."""
    resp = _get(b2connect_emulator, {"X-Tenant-ID": b2connect_emulator.tenant_id})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.headers["Content-Type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == 401
    assert set(body) >= {"type", "title", "status", "detail", "traceId"}


def test_token_signed_with_other_secret_is_401(b2connect_emulator: B2ConnectEmulator) -> None:
    """A token signed with a different secret is refused."""
    other = B2ConnectEmulator(jwt_secret="x" * 40).token_for(b2connect_emulator.tenant_id)
    resp = _get(b2connect_emulator, _headers(other, b2connect_emulator.tenant_id))
    assert resp.status_code == 401
    assert "invalid_token" in resp.headers["WWW-Authenticate"]


def test_expired_token_is_401(b2connect_emulator: B2ConnectEmulator) -> None:
    """A token past its exp claim is refused."""
    token = b2connect_emulator.token_for(lifetime_s=-60)
    resp = _get(b2connect_emulator, _headers(token, b2connect_emulator.tenant_id))
    assert resp.status_code == 401


def test_wrong_audience_is_401(b2connect_emulator: B2ConnectEmulator) -> None:
    """Identity's admin audience (B2X.Admin) is not accepted by the gateway."""
    claims = jwt.decode(b2connect_emulator.token_for(), options={"verify_signature": False})
    claims["aud"] = "B2X.Admin"
    token = jwt.encode(claims, b2connect_emulator.jwt_secret, algorithm="HS256")
    resp = _get(b2connect_emulator, _headers(token, b2connect_emulator.tenant_id))
    assert resp.status_code == 401


def test_token_claims(b2connect_emulator: B2ConnectEmulator) -> None:
    """token_for mints the documented service-account claims."""
    claims = jwt.decode(
        b2connect_emulator.token_for(),
        b2connect_emulator.jwt_secret,
        algorithms=["HS256"],
        audience="B2X",
        issuer="B2X",
    )
    assert claims["tenant_id"] == claims["TenantId"] == b2connect_emulator.tenant_id
    assert claims["AccountType"] == "SU"
    assert claims["CrmServiceAccount"] == "true"
    assert set(claims["CrmPermissions"]) == {
        "ReadCustomers",
        "UpdateCustomers",
        "ReadOrders",
        "ReceiveWebhooks",
    }
    assert claims["exp"] - claims["iat"] == 3600


def test_missing_tenant_header_is_400(b2connect_emulator: B2ConnectEmulator) -> None:
    """A valid token without X-Tenant-ID: 400."""
    resp = _get(b2connect_emulator, {"Authorization": f"Bearer {b2connect_emulator.token_for()}"})
    assert resp.status_code == 400


def test_non_guid_tenant_header_is_400(b2connect_emulator: B2ConnectEmulator) -> None:
    """X-Tenant-ID must be a Guid."""
    resp = _get(b2connect_emulator, _headers(b2connect_emulator.token_for(), "default"))
    assert resp.status_code == 400


def test_tenant_header_differs_from_claim_is_403(b2connect_emulator: B2ConnectEmulator) -> None:
    """X-Tenant-ID naming another tenant than the token's tenant_id claim: 403."""
    resp = _get(b2connect_emulator, _headers(b2connect_emulator.token_for(), OTHER_TENANT))
    assert resp.status_code == 403


def test_tenant_header_is_case_insensitive(b2connect_emulator: B2ConnectEmulator) -> None:
    """A Guid in upper case names the same tenant."""
    headers = _headers(b2connect_emulator.token_for(), b2connect_emulator.tenant_id.upper())
    assert _get(b2connect_emulator, headers).status_code == 200


def test_token_for_unserved_tenant_is_403(b2connect_emulator: B2ConnectEmulator) -> None:
    """A well-signed token for a tenant the emulator does not serve: 403."""
    token = b2connect_emulator.token_for(OTHER_TENANT)
    assert _get(b2connect_emulator, _headers(token, OTHER_TENANT)).status_code == 403


def test_not_a_service_account_is_403(b2connect_emulator: B2ConnectEmulator) -> None:
    """A token without CrmServiceAccount=true is refused."""
    token = b2connect_emulator.token_for(service_account=False)
    resp = _get(b2connect_emulator, _headers(token, b2connect_emulator.tenant_id))
    assert resp.status_code == 403


def test_missing_read_orders_permission_is_403(b2connect_emulator: B2ConnectEmulator) -> None:
    """Orders need ReadOrders: customer-only tokens get 403 on /api/v1/orders."""
    token = b2connect_emulator.token_for(permissions=["ReadCustomers"])
    headers = _headers(token, b2connect_emulator.tenant_id)
    assert _get(b2connect_emulator, headers, "/api/v1/orders").status_code == 403
    assert _get(b2connect_emulator, headers, "/api/crm/orders/delta").status_code == 403
    assert _get(b2connect_emulator, headers).status_code == 200


def test_write_needs_update_permission(b2connect_emulator: B2ConnectEmulator) -> None:
    """A read-only token cannot PATCH a customer."""
    token = b2connect_emulator.token_for(permissions=["ReadCustomers", "ReadOrders"])
    cid = b2connect_emulator.admin_list("customers")[0]["id"]
    resp = requests.patch(
        f"{b2connect_emulator.url}/api/crm/customers/{cid}",
        json={"firstName": "X"},
        headers=_headers(token, b2connect_emulator.tenant_id),
        timeout=10,
    )
    assert resp.status_code == 403


def test_short_jwt_secret_is_refused() -> None:
    """The platform's minimum of 32 characters for Jwt:Secret applies."""
    try:
        B2ConnectEmulator(jwt_secret="too-short")
    except ValueError as exc:
        assert "32" in str(exc)
    else:
        raise AssertionError("a short secret was accepted")
