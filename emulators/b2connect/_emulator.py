"""The B2Connect emulator: the integration contract of ``docs/b2connect-integration-api.yaml``."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from emulators._base import BaseEmulator, EmuRequest, HttpError, json_response
from emulators.b2connect._admin import Admin
from emulators.b2connect._api import CrmApi, permission_for
from emulators.b2connect._auth import MIN_SECRET_LEN, Principal, authenticate, mint, require
from emulators.b2connect._common import DEFAULT_TENANT, ENTITIES, is_guid
from emulators.b2connect._delta import TokenCodec
from emulators.b2connect._http import problem
from emulators.b2connect._shop import Shop
from emulators.b2connect._shoppers import simulate
from emulators.b2connect._store import Store
from emulators.b2connect._webhooks import WebhookSender

# Well-known defaults of a local test server, not credentials of any real system.
DEFAULT_JWT_SECRET = "emulator-jwt-secret-with-at-least-32-chars!!"  # noqa: S105
DEFAULT_WEBHOOK_SECRET = "emulator-webhook-secret"  # noqa: S105


class B2ConnectEmulator(BaseEmulator):
    """Delta feeds, write-backs, ``/api/v1/orders`` and signed webhooks, per tenant."""

    name = "b2connect"

    def __init__(
        self,
        *,
        jwt_secret: str = DEFAULT_JWT_SECRET,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        webhook_url: str | None = None,
        tenants: list[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(jwt_secret) < MIN_SECRET_LEN:
            raise ValueError(f"jwt_secret must be at least {MIN_SECRET_LEN} characters")
        self.tenants = [str(t).lower() for t in (tenants or [DEFAULT_TENANT])]
        bad = [t for t in self.tenants if not is_guid(t)]
        if bad:
            raise ValueError(f"tenants must be Guid strings: {bad}")
        self.jwt_secret = jwt_secret
        self.webhook_secret = webhook_secret
        self._lock = threading.RLock()
        self.store = Store()
        self.webhooks = WebhookSender(webhook_secret, clock, webhook_url)
        self.shop = Shop(self.store, clock, self.webhooks.enqueue)
        self.api = CrmApi(self.shop, TokenCodec())
        self.admin = Admin(self.api, self.tenants)
        super().__init__(clock=clock)

    # ---- identity

    @property
    def tenant_id(self) -> str:
        """The first (default) tenant."""
        return self.tenants[0]

    @property
    def webhook_url(self) -> str | None:
        return self.webhooks.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self.webhooks.url = url

    def token_for(
        self,
        tenant_id: str | None = None,
        *,
        lifetime_s: int = 3600,
        permissions: list[str] | None = None,
        service_account: bool = True,
    ) -> str:
        """A CRM service-account JWT (HS256) for ``tenant_id`` (default: the first tenant)."""
        return mint(
            self.jwt_secret,
            tenant_id or self.tenant_id,
            now=self.clock(),
            lifetime_s=lifetime_s,
            permissions=permissions,
            service_account=service_account,
        )

    # ---- routing

    def register_routes(self) -> None:
        for method, path, handler in self.api.routes():
            self.route(method, path, self._authenticated(handler))
        self.route(
            "GET",
            "/_emulator/webhooks",
            lambda _req: json_response(self.webhooks.deliveries),
            counted=False,
            faults=False,
        )

    def _authenticated(
        self, handler: Callable[[EmuRequest, Principal], Response]
    ) -> Callable[[EmuRequest], Response]:
        def run(req: EmuRequest) -> Response:
            who = authenticate(req.headers, self.jwt_secret, self.tenants, self.clock())
            require(who, permission_for(req))
            return handler(req, who)

        return run

    def dispatch(self, handler: Callable[[EmuRequest], Response], req: EmuRequest) -> Response:
        with self._lock:
            return handler(req)

    def error_response(self, err: HttpError) -> Response:
        return problem(err)

    # ---- admin API

    def admin_list(self, obj: str) -> list[dict[str, Any]]:
        with self._lock:
            return self.admin.list(obj)

    def admin_get(self, obj: str, rid: str) -> dict[str, Any]:
        with self._lock:
            return self.admin.get(obj, rid)

    def admin_patch(self, obj: str, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self.admin.patch(obj, rid, data)

    def admin_create(self, obj: str, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self.admin.create(obj, data)

    def reset(self) -> None:
        with self._lock:
            self.store.clear()
            self.webhooks.deliveries.clear()
            super().reset()

    # ---- data

    def load(self, seed_data: Any) -> int:
        """Insert seeded records (a ``SeedData``) as Created changes in ``updatedAt`` order.

        No webhooks fire. Returns the number of records loaded.
        """
        records = [
            (rec["updatedAt"], entity, rec)
            for entity in ENTITIES
            for rec in getattr(seed_data, entity, None) or []
        ]
        records.sort(key=lambda item: item[0])
        with self._lock:
            for _, entity, rec in records:
                tenant = str(rec.get("tenantId") or self.tenant_id).lower()
                if tenant not in self.tenants:
                    raise ValueError(f"seed tenant {tenant} is not served by this emulator")
                data = {k: v for k, v in rec.items() if k not in ("tenantId", "deleted")}
                row = self.shop.create(entity, tenant, data, notify=False)
                if rec.get("deleted"):
                    self.shop.delete(row, notify=False)
        return len(records)

    def simulate_shoppers(
        self, rng: random.Random, n_events: int, tenant_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Make ``n_events`` realistic shopper changes (webhooks fire); returns what happened."""
        with self._lock:
            return simulate(self.shop, rng, n_events, tenant_id or self.tenant_id)

    def flush_webhooks(self, timeout: float = 10.0) -> bool:
        """Wait until queued webhooks are delivered or given up."""
        return self.webhooks.flush(timeout)

    # ---- lifecycle

    def stop(self) -> None:
        self.webhooks.stop()
        super().stop()
