"""The share of the org's daily API allocation b2sync may use.

Salesforce reports ``api-usage=used/max`` in ``Sforce-Limit-Info`` on every REST response.
The allocation is a **rolling 24-hour window**, not a calendar day: there is no reset
instant to wait for, calls simply age out one by one. So when the configured share is used
up, the connector pauses for one hour (``PAUSE``) and then lets one call through to read a
fresh figure; if the org is still over the share it pauses again. An hour is long enough not
to waste calls probing and short enough to resume soon after old calls age out.

The budget is shared by every thread that calls the org (it implements
:class:`connectors.budget.ApiBudget`): besides the daily share it caps the calls in flight
(:class:`connectors.budget.AdaptiveConcurrency`, at most 25: the org refuses more than 25
long-running calls at once, ``ConcurrentPerOrgLongTxn``). Salesforce has no per-second limit,
so there is no token bucket; a ``ConcurrentPerOrgLongTxn`` refusal halves the cap, climbing
latency cuts it, busy slots raise it. Every HTTP request of the connector holds a slot
(:meth:`Budget.in_flight`), so paging and Bulk polling count too.

In the scaled-out deployment (``b2sync worker``) several processes call one org, and each
process's budget sees only its own calls. A ``shared`` budget (``connectors.redis_budget``,
one per org) then also admits every HTTP request: it counts the request against the share
of the org's allocation across every process (raised to the org's own ``api-usage`` figure
by every answer) and holds one of the org's concurrency slots (25) while the request is out;
a killed process's slot frees itself when its lease runs out.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

from simple_salesforce.api import Salesforce
from simple_salesforce.util import Usage

from connectors.budget import INITIAL_IN_FLIGHT, AdaptiveBudget, AdaptiveConcurrency
from connectors.errors import BudgetExhausted
from mapping.config import SALESFORCE_CONCURRENCY

__all__ = ["PAUSE", "Budget", "SharedOrgBudget"]

PAUSE = dt.timedelta(hours=1)


class SharedOrgBudget(Protocol):
    """An org's budget several processes share (``connectors.redis_budget.RedisBudget`` with
    a concurrency limit and the org's daily share)."""

    def acquire(self, cost: int = 1) -> float: ...

    def release(self) -> None: ...

    def observe(self, headers: Mapping[str, str] | None, status: int | None = None) -> None: ...

    def observe_usage(self, used: int, total: int) -> None: ...


class Budget(AdaptiveBudget):
    """Tracks ``api-usage`` and refuses calls once ``share`` of the maximum is used."""

    def __init__(
        self,
        share: float,
        clock: Callable[[], dt.datetime],
        *,
        max_in_flight: int = INITIAL_IN_FLIGHT,
        max_in_flight_cap: int = SALESFORCE_CONCURRENCY,
        shared: SharedOrgBudget | None = None,
    ) -> None:
        self.share = share
        #: the org's budget across processes (``None``: this process is the only caller)
        self.shared = shared
        self.clock = clock
        self.used: int | None = None
        self.total: int | None = None
        self._resume_at: dt.datetime | None = None
        self._reason = "share"
        self._lock = threading.RLock()
        #: calls in flight, adapted to how the org answers
        self.concurrency = AdaptiveConcurrency(max_in_flight, maximum=max_in_flight_cap)

    # ---- the shared-budget interface (connectors.budget.ApiBudget)

    def acquire(self, *, search: bool = False) -> None:
        """Refuse when the share is spent (:meth:`check`), else wait for a slot."""
        self.check()
        self.concurrency.acquire()

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """A concurrency slot only (the daily share is checked once per logical call)."""
        self.concurrency.acquire()
        try:
            if self.shared is None:
                yield
                return
            self._take_shared()
            try:
                yield
            finally:
                self.shared.release()
        finally:
            self.concurrency.release()

    def _take_shared(self) -> None:
        """One request against the org's shared share and one of its shared slots."""
        assert self.shared is not None
        try:
            self.shared.acquire()
        except BudgetExhausted as exc:  # the share is spent, counted across every process
            with self._lock:
                self._resume_at = exc.resume_at or self.clock() + PAUSE
                self._reason = "share"
            raise self._error(self._resume_at, "share") from exc

    def observe(
        self,
        headers: Mapping[str, str] | None,
        status: int | None = None,
        latency_s: float | None = None,
    ) -> None:
        """Learn from a response: ``Sforce-Limit-Info`` usage, a throttle (429, or the
        caller's mapping of ``ConcurrentPerOrgLongTxn`` to it), the latency of a success."""
        if self.shared is not None and status == 429:
            self.shared.observe(headers, status)  # every process backs off, not only this one
        if status == 429:
            self.concurrency.on_throttle()
        elif status is not None and status < 400:
            self.concurrency.on_success(latency_s)
        info = None
        for key, value in (headers or {}).items():
            if key.lower() == "sforce-limit-info":
                info = value
        if info:
            self.observe_limit_info(info)

    def observe_limit_info(self, limit_info: str) -> None:
        """Record the usage an ``Sforce-Limit-Info`` header reports (parsed by the SDK)."""
        usage = Salesforce.parse_api_usage(limit_info).get("api-usage")
        if isinstance(usage, Usage):
            with self._lock:
                self.used, self.total = usage.used, usage.total
            if self.shared is not None:
                self.shared.observe_usage(usage.used, usage.total)

    @property
    def exhausted(self) -> bool:
        """Whether the last known usage is at or above the share."""
        if self.used is None or not self.total:
            return False
        return self.used >= self.share * self.total

    def check(self) -> None:
        """Raise :class:`BudgetExhausted` if the next call must wait."""
        with self._lock:
            now = self.clock()
            if self._resume_at is not None and now < self._resume_at:
                raise self._error(self._resume_at, self._reason)
            self._resume_at = None
            if self.exhausted:
                raise self.pause("share")

    def pause(self, reason: str) -> BudgetExhausted:
        """Start a pause of :data:`PAUSE` and return the error announcing it; ``reason`` is
        ``"share"`` (our share used) or ``"limit"`` (Salesforce said REQUEST_LIMIT_EXCEEDED)."""
        with self._lock:
            resume_at = self._resume_at = self.clock() + PAUSE
            self._reason = reason
            self.used = None  # stale once paused: the first call after the pause re-reads it
        return self._error(resume_at, reason)

    def _error(self, resume_at: dt.datetime, reason: str) -> BudgetExhausted:
        if reason == "limit":
            message = (
                "Salesforce refused the call: the org's daily API allocation is used up "
                "(REQUEST_LIMIT_EXCEEDED); b2sync pauses and retries at "
                f"{resume_at.isoformat()}. Ask Salesforce for more calls or lower other usage."
            )
            code = "REQUEST_LIMIT_EXCEEDED"
        else:
            share = f"{self.share:.0%}"
            message = (
                f"b2sync has used its share ({share}) of the org's rolling 24-hour API "
                f"allocation; pausing until {resume_at.isoformat()}. Raise daily_share in the "
                "Salesforce connection to allow more."
            )
            code = "DAILY_SHARE_USED"
        return BudgetExhausted(message, resume_at=resume_at, code=code)
