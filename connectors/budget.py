"""API budgets shared by every thread that spends them: the interface and two building blocks.

One budget per vendor API budget (a HubSpot private app's token, a Salesforce org): every
thread of the process that calls that API goes through the same object, so the budget, not
each caller, decides how fast and how many at once. The engine's worker threads use it as::

    with budget.slot():          # blocks for a token and a concurrency slot
        response = call()
    budget.observe(headers, status, latency_s)   # or inside the slot, as the connectors do

:class:`ApiBudget` is the interface (a ``typing.Protocol``): the connectors' in-process
governors implement it today, a Redis-backed budget shared by several processes can
implement it later. The building blocks, both thread-safe:

- :class:`TokenBucket` spreads calls evenly (``rate`` per second, at most ``capacity`` at
  once) instead of letting a window's allowance go out in one burst. Callers reserve a token
  in order and then wait outside the lock, so N threads are spaced out, not stampeded.
- :class:`AdaptiveConcurrency` caps the calls in flight and adapts the cap (AIMD): halved
  after a rate-limit refusal, cut by a quarter when latency climbs well above its baseline,
  raised by one per round of calls while every slot is busy. A nested call from a thread
  that already holds a slot (e.g. a lookup made while handling a response) does not take a
  second one, so it can never deadlock on its own slot.

Calls made under :func:`urgent` (the daemon's webhook-triggered runs) take the next free slot
before calls of a backfill that were already waiting for one, so a webhook's change is never
queued behind a backfill's batches on a shared budget (the rate still applies to it).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, runtime_checkable

__all__ = [
    "INITIAL_IN_FLIGHT",
    "AdaptiveBudget",
    "AdaptiveConcurrency",
    "ApiBudget",
    "TokenBucket",
    "is_urgent",
    "slot",
    "urgent",
]

#: calls in flight an adaptive budget starts with (fewer when its ceiling is lower): safe for
#: any portal or org; it grows from there while the budget has room
INITIAL_IN_FLIGHT = 4


@runtime_checkable
class ApiBudget(Protocol):
    """What every caller of one API budget uses, whatever keeps the count."""

    @property
    def max_in_flight(self) -> int:
        """The current adaptive limit of calls in flight."""
        ...

    def acquire(self, *, search: bool = False) -> None:
        """Block until a call may go out (a token and a concurrency slot); raise
        :class:`connectors.errors.BudgetExhausted` when the budget's share is spent."""
        ...

    def release(self) -> None:
        """Give back the concurrency slot of a call that finished (or failed)."""
        ...

    def observe(
        self,
        headers: Mapping[str, str] | None,
        status: int | None = None,
        latency_s: float | None = None,
    ) -> None:
        """Learn from a response: its rate-limit headers, status and latency."""
        ...


#: whether the calls of this context go before queued non-urgent ones (see :func:`urgent`)
_URGENT: ContextVar[bool] = ContextVar("b2sync_budget_urgent", default=False)


def is_urgent() -> bool:
    """Whether the calls of the current context are urgent (inside :func:`urgent`)."""
    return _URGENT.get()


@contextmanager
def urgent() -> Iterator[None]:
    """Calls made inside (on this thread, and on the threads the engine hands its work to
    with a copy of its context) take a free slot of any adaptive budget before non-urgent
    calls already waiting for one, and their store writes take a SQLite store's write lock
    before non-urgent writers waiting for it (:func:`store.urgent_writes`): a
    webhook-triggered run is not stuck behind a backfill."""
    from store import urgent_writes  # here: the budgets alone need no SQLAlchemy

    token = _URGENT.set(True)
    try:
        with urgent_writes():
            yield
    finally:
        _URGENT.reset(token)


@contextmanager
def slot(budget: ApiBudget, *, search: bool = False) -> Iterator[None]:
    """``acquire`` then ``release`` around one call, whatever happens inside."""
    budget.acquire(search=search)
    try:
        yield
    finally:
        budget.release()


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` banked; :meth:`reserve` books one."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.stamp = now
        self._lock = threading.Lock()

    def reserve(self, at: float) -> float:
        """Book the next token at or after ``at``; the time it is there (callers wait for
        it). Bookings are in order: a later caller never gets an earlier token."""
        with self._lock:
            at = max(at, self.stamp)
            self.tokens = min(self.capacity, self.tokens + (at - self.stamp) * self.rate)
            self.stamp = at
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return at
            ready = at + (1.0 - self.tokens) / self.rate
            self.tokens, self.stamp = 0.0, ready
            return ready

    def ready_at(self, at: float) -> float:
        """When a token would be there for a call at ``at`` (nothing booked)."""
        with self._lock:
            at = max(at, self.stamp)
            tokens = min(self.capacity, self.tokens + (at - self.stamp) * self.rate)
            return at if tokens >= 1.0 else at + (1.0 - tokens) / self.rate


class AdaptiveConcurrency:
    """A cap on calls in flight that adapts: additive increase, multiplicative decrease.

    ``maximum`` is the ceiling (a connection's ``concurrency``); the engine may keep more
    threads than the current limit ready (its pools are sized at the ceiling): the extra ones
    wait here, and their waiting is what tells the cap that more calls could go out."""

    @classmethod
    def up_to(cls, ceiling: int) -> AdaptiveConcurrency:
        """Start at :data:`INITIAL_IN_FLIGHT` (or ``ceiling`` if lower), adapt up to it."""
        ceiling = max(1, ceiling)
        return cls(min(INITIAL_IN_FLIGHT, ceiling), maximum=ceiling)

    def __init__(
        self,
        initial: int = INITIAL_IN_FLIGHT,
        *,
        minimum: int = 1,
        maximum: int = 16,
        slow_factor: float = 3.0,
    ) -> None:
        self.minimum = minimum
        self.maximum = max(minimum, maximum)
        self.limit = float(min(max(initial, minimum), self.maximum))
        self.slow_factor = slow_factor
        self.in_flight = 0
        self.peak_in_flight = 0
        #: decreases so far (after refusals, after latency rises)
        self.throttled = 0
        self.slowed = 0
        self._cond = threading.Condition()
        self._held = threading.local()
        self._waiting = 0
        self._urgent_waiting = 0
        self._completed = 0
        self._quiet_until = 0  # completions to see before the next decrease
        self._baseline: float | None = None
        self._recent: float | None = None
        self._samples = 0

    @property
    def max_in_flight(self) -> int:
        return int(self.limit)

    def acquire(self) -> None:
        """Wait for a free slot (none needed when this thread holds one already); an
        :func:`urgent` caller gets the next one before the non-urgent callers waiting."""
        depth = getattr(self._held, "depth", 0)
        self._held.depth = depth + 1
        if depth:
            return
        first = _URGENT.get()
        with self._cond:
            self._waiting += 1
            self._urgent_waiting += first
            try:
                while self.in_flight >= int(self.limit) or (not first and self._urgent_waiting):
                    self._cond.wait()
            finally:
                self._waiting -= 1
                self._urgent_waiting -= first
                if first:
                    self._cond.notify_all()  # the others may go once no urgent call waits
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def release(self) -> None:
        depth = getattr(self._held, "depth", 0)
        if depth <= 0:
            raise RuntimeError("release() without acquire()")
        self._held.depth = depth - 1
        if depth > 1:
            return
        with self._cond:
            self.in_flight -= 1
            self._completed += 1
            self._cond.notify_all()

    def on_success(self, latency_s: float | None, *, room: bool = True) -> None:
        """A call went through: grow while every slot is busy and the budget has ``room``
        (calls are not already waiting for the rate), shrink when latency climbs."""
        with self._cond:
            if latency_s is not None and self._latency_rose(latency_s):
                self._decrease(0.75)
                self.slowed += 1
                return
            busy = self._waiting > 0 or self.in_flight >= int(self.limit)
            if busy and room and self.limit < self.maximum:
                self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
                self._cond.notify_all()

    def on_throttle(self) -> None:
        """The vendor refused a call for its rate: halve the cap (once per round of calls:
        refusals of calls that were already in flight do not cut again)."""
        with self._cond:
            if self._decrease(0.5):
                self.throttled += 1

    def _decrease(self, factor: float) -> bool:
        if self._completed < self._quiet_until:
            return False
        self.limit = max(float(self.minimum), self.limit * factor)
        self._quiet_until = self._completed + self.in_flight
        return True

    def _latency_rose(self, latency_s: float) -> bool:
        """True when the recent latency (fast average) is ``slow_factor`` x its baseline
        (slow average, so a vendor that stays slower becomes the norm); judged after 20
        calls, at most once per round."""
        self._samples += 1
        if self._recent is None or self._baseline is None:
            self._recent = self._baseline = latency_s
            return False
        self._recent += (latency_s - self._recent) * 0.3
        self._baseline += (latency_s - self._baseline) * 0.02
        if self._samples < 20 or self._recent <= self.slow_factor * self._baseline:
            return False
        if self._completed < self._quiet_until:
            return False
        self._recent = self._baseline
        return True


class AdaptiveBudget(ABC):
    """The part of :class:`ApiBudget` the in-process governors share: calls in flight capped
    by their :class:`AdaptiveConcurrency` (``concurrency``, set by the subclass, which also
    defines :meth:`acquire` and ``observe``)."""

    concurrency: AdaptiveConcurrency

    @property
    def max_in_flight(self) -> int:
        """The current adaptive limit of calls in flight."""
        return self.concurrency.max_in_flight

    @abstractmethod
    def acquire(self, *, search: bool = False) -> None:
        """Wait for a slot and the call's turn (each governor its own way)."""

    def release(self) -> None:
        self.concurrency.release()

    @contextmanager
    def slot(self, *, search: bool = False) -> Iterator[None]:
        """``acquire`` … ``release`` around one call."""
        self.acquire(search=search)
        try:
            yield
        finally:
            self.release()
