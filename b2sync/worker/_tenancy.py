"""What a worker process holds per tenant: its runner (its own store, its own connectors)
with budgets shared through Redis, and the fenced run of one pipeline.

A tenant's runner is built on first use from the tenant's config (base + overrides, its own
secrets and state store: :mod:`b2sync.tenants`) and kept for the process's life, so a
tenant's connections are opened once per worker process, not once per task.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from b2sync.runtime import build_runner
from b2sync.tenants import Tenants
from connectors.redis_budget import RedisBudget
from mapping.config import HubSpotConnection, resolve_reference
from sync.fencing import RedisPipelineLock
from sync.runner import Runner

__all__ = ["HUBSPOT_PER_10S", "TenantRunners", "budget_key", "fenced"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: HubSpot's burst limit for a private app (calls per rolling 10 s, per token)
HUBSPOT_PER_10S = 190
#: the shared window is this much longer than the vendor's: a call admitted in Redis reaches
#: the vendor a few milliseconds later, and must still fall in a window the vendor counts alike
WINDOW_MARGIN_S = 0.25


def budget_key(system: str, url: str, token: str) -> str:
    """The Redis key of one vendor account's budget: a digest, never the token itself."""
    digest = hashlib.sha256(f"{url}\n{token}".encode()).hexdigest()[:20]
    return f"{system}:{digest}"


@dataclass
class TenantRunners:
    """One runner per tenant in this worker process, built on first use."""

    tenants: Tenants
    redis: Any
    stop: threading.Event = field(default_factory=threading.Event)
    #: extra connector options per type (tests: quick Salesforce bulk polling)
    connector_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    hubspot_per_10s: int = HUBSPOT_PER_10S
    _runners: dict[str, Runner] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def runner(self, tenant_id: str) -> Runner:
        with self._guard:
            runner = self._runners.get(tenant_id)
            if runner is None:
                config = self.tenants.get(tenant_id).config()
                runner = build_runner(
                    config, stop=self.stop, connector_options=self._options(config),
                    tenant=tenant_id,
                )  # fmt: skip
                self._runners[tenant_id] = runner
            return runner

    def _options(self, config: Any) -> dict[str, dict[str, Any]]:
        options = {k: dict(v) for k, v in self.connector_options.items()}
        hubspot = [c for c in config.connections.values() if isinstance(c, HubSpotConnection)]
        for conn in hubspot[:1]:  # one HubSpot portal per tenant config
            key = budget_key("hubspot", resolve_reference(conn.url), resolve_reference(conn.token))
            options.setdefault("hubspot", {}).update(
                shared_budget=RedisBudget(
                    self.redis, key, window_limit=self.hubspot_per_10s,
                    window_s=10.0 + WINDOW_MARGIN_S, daily_share=conn.daily_share,
                    waiter=self.stop.wait,
                ),
                shared_search_budget=RedisBudget(
                    self.redis, f"{key}:search", window_limit=4,
                    window_s=1.0 + WINDOW_MARGIN_S, waiter=self.stop.wait,
                ),
            )  # fmt: skip
        return options

    def release(self, tenant_id: str) -> None:
        """Close the tenant's pooled store connections after a task: a worker serving 1,000
        tenants must not hold a pool per tenant (PostgreSQL allows ~100 connections); the
        runner and its connectors stay, the next task reconnects."""
        with self._guard:
            runner = self._runners.get(tenant_id)
        if runner is not None:
            runner.db.dispose()

    def close(self) -> None:
        with self._guard:
            for runner in self._runners.values():
                runner.close()
            self._runners.clear()


@contextmanager
def _heartbeat(lock: RedisPipelineLock) -> Iterator[None]:
    """Renew ``lock`` every third of its lease while the body runs."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(lock.ttl_s / 3):
            if not lock.renew():
                log.warning("worker.lock_lost", lock=lock.key)
                return

    thread = threading.Thread(target=beat, name="lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def fenced(
    redis: Any, tenant: str, name: str, body: Callable[[int], T], ttl_s: float, floor: int = 0
) -> tuple[bool, T | None]:
    """Run ``body(token)`` holding the tenant's lock ``name`` (renewed while it runs; the
    token above ``floor``); ``(False, None)`` when another worker holds it."""
    lock = RedisPipelineLock(redis, tenant, name, ttl_s=ttl_s)
    token = lock.acquire(floor)
    if token is None:
        return False, None
    try:
        with _heartbeat(lock):
            return True, body(token)
    finally:
        lock.release()
