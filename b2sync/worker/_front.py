"""The HTTP service of the distributed mode: one webhook front for every tenant, enqueue only.

``/t/<tenant>/...`` serves the daemon's own routes (``build_app``: webhooks, health, status,
metrics) for that tenant, with that tenant's config: its webhook secrets verify its deliveries,
its store records the receipts and the erasure inbox *before* the 2xx (durable intake, as in
the embedded mode), and the pipelines a delivery makes due are enqueued on the ``webhooks``
lane (:meth:`Enqueuer.mark_due`) instead of being run here. A delivery signed with another
tenant's secret fails verification (401): the tenant comes from the route and its secret,
never from the payload. ``/healthz`` answers for the whole front.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from b2sync.service import StoreLedger, build_app, pipeline_status, store_totals
from b2sync.worker._enqueue import Enqueuer
from b2sync.worker._tenancy import TenantRunners
from mapping.config import Config, resolve_reference
from sync.runner import Runner

__all__ = ["TenantFront", "front_app"]


def _secret(ref: str | None) -> str | None:
    if not ref:
        return None
    try:
        return resolve_reference(ref) or None
    except Exception:  # noqa: BLE001  # an unresolvable token: the route stays closed
        return None


@dataclass
class TenantFront:
    """The daemon's :class:`~b2sync.service.Service` for one tenant, enqueueing its runs."""

    tenant: str
    runners: TenantRunners
    enqueuer: Enqueuer
    version: str = field(default_factory=lambda: metadata.version("b2sync"))
    webhooks: dict[tuple[str, str], int] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.seen: Any = StoreLedger(self._runner)  # the daemon's durable intake ledger

    def _runner(self) -> Runner:
        return self.runners.runner(self.tenant)

    def config(self) -> Config:
        return self._runner().config

    def now(self) -> float:
        return time.time()

    def mark_due(self, names: list[str], trigger: str, keys: list[str] | None = None) -> None:
        del keys  # workers run the whole pipeline (its queue, not a lane beside a run)
        for name in names:
            self.enqueuer.mark_due(self.tenant, name, trigger)

    def file_erasures(self, items: list[Any]) -> None:
        """The requests are in the tenant's erasure inbox already: a worker files them."""
        del items
        self.enqueuer.feature_task(self.tenant, "erasure")

    def count_webhook(self, source: str, outcome: str) -> None:
        with self._guard:
            key = (source, outcome)
            self.webhooks[key] = self.webhooks.get(key, 0) + 1

    def status_token(self) -> str | None:
        return _secret(self.config().http.status_token)

    def metrics_token(self) -> str | None:
        return _secret(self.config().http.metrics_token)

    def readiness(self) -> dict[str, Any]:
        try:
            with self._runner().db.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            store_ok = True
        except sa.exc.SQLAlchemyError:
            store_ok = False
        broker_ok = bool(self.enqueuer.redis.ping())
        return {"ready": store_ok and broker_ok, "store": store_ok, "broker": broker_ok}

    def status(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        runner = self._runner()
        with runner.db.connect() as conn:
            rows = pipeline_status(conn, runner.select(None), now)
            totals = store_totals(conn)
        return {"generated_at": now.isoformat(), "tenant": self.tenant, **totals, "pipelines": rows}

    def metrics_text(self) -> bytes:
        lines = [
            f'b2sync_webhooks_total{{tenant="{self.tenant}",source="{s}",outcome="{o}"}} {n}'
            for (s, o), n in sorted(self.webhooks.items())
        ]
        return ("\n".join(lines) + "\n").encode()


def front_app(runners: TenantRunners, enqueuer: Enqueuer, *, exposed: bool = False) -> ASGIApp:
    """Every tenant's routes under ``/t/<tenant>``, and ``/healthz``."""

    def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "tenants": len(runners.tenants.ids())})

    routes: list[Route | Mount] = [Route("/healthz", healthz, methods=["GET"])]
    for tenant in runners.tenants.ids():
        front = TenantFront(tenant, runners, enqueuer)
        routes.append(Mount(f"/t/{tenant}", app=build_app(front, exposed=exposed)))
    return Starlette(routes=routes)
