"""Connection models: a B2Connect tenant, a HubSpot portal, a Salesforce org."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from mapping.config._base import Frozen as _Frozen
from mapping.config._base import MaybeRef, SecretRef

__all__ = [
    "DEFAULT_CONCURRENCY",
    "HUBSPOT_CONCURRENCY",
    "SALESFORCE_CONCURRENCY",
    "B2ConnectConnection",
    "Connection",
    "HubSpotConnection",
    "SalesforceAuth",
    "SalesforceConnection",
]

#: the most calls in flight at once on a B2Connect tenant unless its ``concurrency`` says
#: otherwise (one GET + one PATCH per write-back, no batch route: what one tenant serves)
DEFAULT_CONCURRENCY = 4
#: HubSpot: the most calls in flight; the governor starts at 4 and adapts, its token bucket
#: (19 calls / s of a private app's 190 per 10 s) is what bounds the rate. 19/s at 1.2 s
#: a call needs about 23 in flight, so the ceiling sits above that
HUBSPOT_CONCURRENCY = 32
#: Salesforce: the org refuses more than 25 long-running calls at once
#: (``ConcurrentPerOrgLongTxn``); the budget starts at 4 and adapts up to this
SALESFORCE_CONCURRENCY = 25


def _concurrency(default: int) -> Any:
    return Field(
        default=default,
        ge=1,
        le=64,
        description=(
            "Most calls in flight at once on this connection, shared by every pipeline and task"
            " that uses it. For HubSpot and Salesforce this is the ceiling of the adaptive"
            " limit: the connection starts at 4 calls in flight (fewer if this is lower), adds"
            " more while the rate budget has room and latency is steady, and halves after a"
            " 429 or a concurrent-request refusal (1: one call at a time, the serial"
            " behaviour)"
        ),
    )


class B2ConnectConnection(_Frozen):
    """A B2Connect tenant: base URL, JWT bearer and the ``X-Tenant-ID`` it belongs to."""

    type: Literal["b2connect"]
    url: MaybeRef = Field(description="Base URL of the B2Connect API")
    token: SecretRef = Field(description="JWT bearer token of the CRM service account")
    tenant_id: MaybeRef = Field(description="Tenant Guid sent as X-Tenant-ID")
    webhook_secret: SecretRef | None = Field(
        default=None, description="HMAC secret of B2Connect's outgoing webhooks"
    )
    mode: Literal["delta", "orders_api"] = Field(
        default="delta",
        description="delta: /api/crm/{entity}/delta feeds; orders_api: rescan /api/v1/orders only",
    )
    timeout_s: float = Field(default=30.0, gt=0)
    concurrency: int = _concurrency(DEFAULT_CONCURRENCY)


class HubSpotConnection(_Frozen):
    """A HubSpot portal reached with a private-app token."""

    type: Literal["hubspot"]
    url: MaybeRef = Field(default="https://api.hubapi.com", description="API base URL")
    token: SecretRef = Field(description="Private app access token")
    app_secret: SecretRef | None = Field(
        default=None, description="App secret for webhook signatures"
    )
    portal_id: MaybeRef | None = Field(
        default=None,
        description="HubSpot portal (hub) id; webhooks of another portal are refused",
    )
    daily_share: float = Field(
        default=0.5, gt=0, le=1, description="Share of the portal's daily API limit b2sync may use"
    )
    timeout_s: float = Field(default=30.0, gt=0)
    concurrency: int = _concurrency(HUBSPOT_CONCURRENCY)
    search_overlap_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description=(
            "How far before its last mark each pull re-reads HubSpot search (already-seen"
            " records are dropped): search is eventually consistent, so an edit can show up"
            " seconds after a later one; keep this well above that lag"
        ),
    )


class SalesforceAuth(_Frozen):
    """How to get a Salesforce session."""

    method: Literal["session", "client_credentials", "jwt"] = "session"
    session_id: SecretRef | None = None
    client_id: MaybeRef | None = None
    client_secret: SecretRef | None = None
    username: MaybeRef | None = None
    private_key: SecretRef | None = None
    domain: str = Field(default="login", description="login, test, or a My Domain prefix")

    @model_validator(mode="after")
    def _needs(self) -> SalesforceAuth:
        needed = {
            "session": ("session_id",),
            "client_credentials": ("client_id", "client_secret"),
            "jwt": ("client_id", "username", "private_key"),
        }[self.method]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"auth method '{self.method}' needs {', '.join(missing)}")
        return self


class SalesforceConnection(_Frozen):
    """A Salesforce org."""

    type: Literal["salesforce"]
    instance_url: MaybeRef = Field(description="https://yourdomain.my.salesforce.com")
    api_version: str = Field(default="59.0", pattern=r"^\d{2}\.0$")
    auth: SalesforceAuth
    ca_file: MaybeRef | None = Field(default=None, description="CA bundle to verify TLS with")
    daily_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of the org's daily API allocation b2sync may use",
    )
    bulk_threshold: int = Field(
        default=20_000,
        ge=1,
        description="Use Bulk API 2.0 for a write of at least this many records; below it, "
        "sObject Collections (200 per call) are as fast or faster (docs/performance.md)",
    )
    timeout_s: float = Field(default=60.0, gt=0)
    concurrency: int = _concurrency(SALESFORCE_CONCURRENCY)


Connection = Annotated[
    B2ConnectConnection | HubSpotConnection | SalesforceConnection,
    Field(discriminator="type"),
]
