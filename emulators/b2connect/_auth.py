"""JWT HS256 service-account tokens and the tenant rules of the B2Connect gateway.

401 without a valid bearer token; 400 without a Guid ``X-Tenant-ID``; 403 when the header's
tenant is not the token's ``tenant_id`` claim, the tenant is not served, or the token is not a
CRM service account holding the route's permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from emulators._base import HttpError
from emulators.b2connect._common import is_guid, new_id

ISSUER = "B2X"
AUDIENCE = "B2X"
PERMISSIONS = ("ReadCustomers", "UpdateCustomers", "ReadOrders", "ReceiveWebhooks")
MIN_SECRET_LEN = 32


@dataclass(frozen=True)
class Principal:
    """Who called: the tenant and the permissions of the token."""

    tenant: str
    permissions: frozenset[str]


def mint(
    secret: str,
    tenant_id: str,
    *,
    now: float,
    lifetime_s: int = 3600,
    permissions: list[str] | None = None,
    service_account: bool = True,
) -> str:
    """An HS256 token for a CRM service account of ``tenant_id``."""
    claims: dict[str, Any] = {
        "sub": f"crm-service.{tenant_id}",
        "jti": new_id(),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(now),
        "exp": int(now) + lifetime_s,
        "tenant_id": tenant_id,
        "TenantId": tenant_id,
        "AccountType": "SU",
        "CrmPermissions": list(PERMISSIONS if permissions is None else permissions),
    }
    if service_account:
        claims["CrmServiceAccount"] = "true"
    return jwt.encode(claims, secret, algorithm="HS256")


def _unauthorized(detail: str, error: str | None = None) -> HttpError:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return HttpError(401, "UNAUTHORIZED", detail, headers={"WWW-Authenticate": challenge})


def authenticate(headers: dict[str, str], secret: str, tenants: list[str], now: float) -> Principal:
    """Check the bearer token and the tenant header of one request."""
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("A bearer token is required.")
    try:
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iss", "aud"], "verify_exp": False},
        )
    except jwt.InvalidTokenError as exc:
        raise _unauthorized(f"The token is invalid: {exc}", "invalid_token") from exc
    if int(claims["exp"]) <= now:
        raise _unauthorized("The token expired.", "invalid_token")
    claim_tenant = claims.get("tenant_id") or claims.get("TenantId")
    header_tenant = headers.get("x-tenant-id")
    if not header_tenant:
        raise HttpError(400, "TENANT_REQUIRED", "The X-Tenant-ID header is required.")
    if not is_guid(header_tenant):
        raise HttpError(400, "TENANT_INVALID", "The X-Tenant-ID header must be a Guid.")
    if claim_tenant is None or str(claim_tenant).lower() != header_tenant.lower():
        raise HttpError(403, "FORBIDDEN", "X-Tenant-ID does not match the token's tenant.")
    tenant = next((t for t in tenants if t.lower() == header_tenant.lower()), None)
    if tenant is None:
        raise HttpError(403, "FORBIDDEN", f"Tenant {header_tenant} is not served here.")
    if claims.get("CrmServiceAccount") != "true":
        raise HttpError(403, "FORBIDDEN", "The token is not a CRM service account.")
    raw = claims.get("CrmPermissions") or []
    perms = frozenset([raw] if isinstance(raw, str) else raw)
    return Principal(tenant=tenant, permissions=perms)


def require(principal: Principal, permission: str) -> None:
    """403 unless the token carries ``permission``."""
    if permission not in principal.permissions:
        raise HttpError(403, "FORBIDDEN", f"The token lacks the {permission} permission.")
