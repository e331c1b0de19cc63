"""What a worker process holds per tenant: its runner (its own store, its own connectors)
with budgets shared through Redis, and the fenced run of one pipeline.

A tenant's runner is built on first use from the tenant's config (base + overrides, its own
secrets and state store: :mod:`b2sync.tenants`) and kept, so a tenant's connectors and
checked schema are built once per worker process, not once per task. At most
``max_cached`` runners are kept (least recently used first out; ``b2sync worker
--max-tenants-cached``): a worker serving 1,000 tenants does not hold 1,000 sets of HTTP
pools and engines. An evicted runner is closed (connectors' HTTP pools, its engine); one in
use by a task (``--pool threads``) is never evicted.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from b2sync.runtime import build_runner
from b2sync.tenants import Tenants
from connectors.redis_budget import RedisBudget, utc_hour
from mapping.config import HubSpotConnection, SalesforceConnection, resolve_reference
from sync.fencing import RedisPipelineLock
from sync.runner import Runner

__all__ = [
    "HUBSPOT_PER_10S",
    "MAX_TENANTS_CACHED",
    "SALESFORCE_CONCURRENCY",
    "TenantRunners",
    "budget_key",
    "fenced",
]

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: HubSpot's burst limit for a private app (calls per rolling 10 s, per token)
HUBSPOT_PER_10S = 190
#: runners a worker process keeps by default (``--max-tenants-cached``)
MAX_TENANTS_CACHED = 64
#: Salesforce's cap on long-running calls in flight per org (ConcurrentPerOrgLongTxn)
SALESFORCE_CONCURRENCY = 25
#: a Salesforce slot's lease: a killed process's slot frees itself after this long (longer
#: than any one HTTP request of the connector: its timeout is 60 s by default)
SALESFORCE_SLOT_TTL_S = 90.0
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
    salesforce_concurrency: int = SALESFORCE_CONCURRENCY
    #: runners kept at most (least recently used evicted and closed)
    max_cached: int = MAX_TENANTS_CACHED
    #: runners evicted (and closed) so far
    evicted: int = 0
    _runners: OrderedDict[str, Runner] = field(default_factory=OrderedDict)
    _active: Counter[str] = field(default_factory=Counter)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self._runners)

    def runner(self, tenant_id: str) -> Runner:
        """The tenant's runner (built now if it is not cached)."""
        with self._guard:
            runner = self._runners.get(tenant_id)
            if runner is not None:
                self._runners.move_to_end(tenant_id)
                return runner
            config = self.tenants.get(tenant_id).config()
            runner = build_runner(
                config, stop=self.stop, connector_options=self._options(config), tenant=tenant_id
            )
            self._runners[tenant_id] = runner
            idle = [t for t in self._runners if not self._active[t] and t != tenant_id]
            evict = idle[: max(0, len(self._runners) - self.max_cached)]
            gone = [self._runners.pop(t) for t in evict]
            self.evicted += len(gone)
        for old in gone:  # outside the guard: closing waits on sockets
            old.close()
        if gone:
            log.info("worker.runners_evicted", count=len(gone), cached=len(self._runners))
        return runner

    @contextmanager
    def use(self, tenant_id: str) -> Iterator[None]:
        """A task of the tenant runs: its runner is not evicted meanwhile; its pooled store
        connections are closed afterwards (:meth:`release`)."""
        with self._guard:
            self._active[tenant_id] += 1
        try:
            yield
        finally:
            with self._guard:
                self._active[tenant_id] -= 1
                if not self._active[tenant_id]:
                    del self._active[tenant_id]
            self.release(tenant_id)

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
                    self.redis, f"{key}:search", window_limit=4, daily_key=key,
                    daily_share=conn.daily_share,
                    window_s=1.0 + WINDOW_MARGIN_S, waiter=self.stop.wait,
                ),
            )  # fmt: skip
        orgs = [c for c in config.connections.values() if isinstance(c, SalesforceConnection)]
        for org in orgs[:1]:  # one org per tenant config; the key names the org, not a user
            key = budget_key("salesforce", resolve_reference(org.instance_url), "")
            options.setdefault("salesforce", {}).update(
                shared_budget=RedisBudget(
                    self.redis, key, daily_share=org.daily_share, day=utc_hour,
                    concurrency=self.salesforce_concurrency,
                    slot_ttl_s=SALESFORCE_SLOT_TTL_S, waiter=self.stop.wait,
                )
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
