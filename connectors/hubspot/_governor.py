"""Client-side rate governor: keeps calls under HubSpot's burst, search and daily limits.

HubSpot reports its limits on every non-search response (``X-HubSpot-RateLimit-*``). The
governor remembers the latest figures, counts its own calls in between and, before each call,
says how long to wait so that a steady stream of calls never meets a 429. It waits through
an injected ``waiter`` (``threading.Event().wait`` by default), never ``time.sleep``.

One governor serves every thread that spends the app's budget (it implements
:class:`connectors.budget.ApiBudget`): ``with governor.slot(): call()`` waits for a concurrency
slot and a token. Calls are spread evenly (a token bucket sized from the window:
``capacity + rate x (interval + margin) <= max - reserve``, so no rolling window can hold more
than the limit even at full speed) instead of going out in bursts; bookings are made in order
under a lock and waited out outside it. A non-urgent call books its turn only when it is
at most :data:`LOOKAHEAD_TURNS` turns away (before, it waits without a booking), so the turns
booked ahead stay few and an urgent call (a webhook's run, :func:`connectors.budget.urgent`)
books the next free turn instead of queueing behind every backfill call already waiting
(with 32 calls in flight that queue was close to two seconds per call at 19 calls/s). The
cap on calls in flight adapts
(:class:`connectors.budget.AdaptiveConcurrency`): halved after a 429, cut when latency climbs,
raised while every slot is busy and the cap, not the rate, is the bound (fewer calls in flight
than the bucket's rate times the calls' latency: 19/s at 800 ms needs about 15 in flight). The
ceiling is the connection's ``concurrency``; the token bucket is what bounds the rate.

The daily limit resets at midnight in the portal's time zone, not UTC (the ``timeZone`` of
``GET /account-info/v3/details``,
https://developers.hubspot.com/docs/api-reference/latest/account/account-information/guide).
The governor asks its ``zone_source`` for that zone once, on first need; when the source fails
it records the fallback (UTC) in the log and keeps going.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from connectors.budget import (
    INITIAL_IN_FLIGHT,
    AdaptiveBudget,
    AdaptiveConcurrency,
    TokenBucket,
    is_urgent,
)
from connectors.errors import BudgetExhausted, ConnectorError, Retriable
from mapping.config import HUBSPOT_CONCURRENCY

__all__ = ["RateGovernor", "SharedBudget", "next_midnight", "next_midnight_utc"]

log = structlog.get_logger(__name__)

#: how many turns of the token bucket ahead a non-urgent call may book (see the module doc)
LOOKAHEAD_TURNS = 2

_MAX = "x-hubspot-ratelimit-max"
_REMAINING = "x-hubspot-ratelimit-remaining"
_INTERVAL = "x-hubspot-ratelimit-interval-milliseconds"
_DAILY = "x-hubspot-ratelimit-daily"
_DAILY_REMAINING = "x-hubspot-ratelimit-daily-remaining"
#: share of the window's allowance the token bucket may bank (the rest flows at its rate)
_BURST_SHARE = 0.05
#: calls in flight beyond rate x latency the cap may reach (local work between calls, jitter:
#: extra calls in flight wait for a token, they never exceed the rate)
_ROOM_HEADROOM = 1.25


def next_midnight(now: float, zone: tzinfo) -> datetime:
    """The next 00:00 in ``zone`` after epoch seconds ``now`` (when the daily budget comes
    back), as an aware UTC datetime."""
    today = datetime.fromtimestamp(now, tz=zone).date()
    tomorrow = today + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).astimezone(UTC)


def next_midnight_utc(now: float) -> datetime:
    """The next 00:00 UTC after epoch seconds ``now``."""
    return next_midnight(now, UTC)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(str(raw).strip())
    except ValueError:
        return None


def _load_zone(source: Callable[[], str | None]) -> tzinfo | None:
    """The zone ``source`` names; None, logged as a fallback to UTC, when it fails or is
    unknown."""
    try:
        name = source()
    except Exception as exc:  # noqa: BLE001  # any failure: fall back, never stop the sync
        log.warning("hubspot.time_zone_fallback", reason=str(exc), zone="UTC")
        return None
    if not name:
        log.warning("hubspot.time_zone_fallback", reason="no timeZone", zone="UTC")
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("hubspot.time_zone_fallback", reason=f"unknown zone {name}", zone="UTC")
        return None


class SharedBudget(Protocol):
    """A budget several processes share (``connectors.redis_budget.RedisBudget``)."""

    def acquire(self, cost: int = 1) -> float: ...

    def observe(self, headers: Mapping[str, str] | None, status: int | None = None) -> None: ...


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """``Retry-After`` in seconds when the header holds a number."""
    if not headers:
        return None
    raw = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    try:
        return max(0.0, float(str(raw))) if raw is not None else None
    except ValueError:
        return None


class RateGovernor(AdaptiveBudget):
    """Burst window, search pacing and daily share for one HubSpot connection."""

    def __init__(
        self,
        *,
        daily_share: float = 0.5,
        clock: Callable[[], float] = time.time,
        waiter: Callable[[float], Any] | None = None,
        search_per_second: int = 4,
        reserve: int = 1,
        margin_s: float = 0.1,
        zone_source: Callable[[], str | None] | None = None,
        max_in_flight: int = INITIAL_IN_FLIGHT,
        max_in_flight_cap: int = HUBSPOT_CONCURRENCY,
        shared: SharedBudget | None = None,
        shared_search: SharedBudget | None = None,
    ) -> None:
        #: budgets shared with other processes (``connectors.redis_budget``): a call also
        #: waits for them, and they learn from every answer
        self.shared = shared
        self.shared_search = shared_search
        self.daily_share = daily_share
        self.zone_source = zone_source
        self._zone: tzinfo | None = None
        self._loading = False
        self.clock = clock
        self.waiter: Callable[[float], Any] = waiter or threading.Event().wait
        self.search_per_second = search_per_second
        self.reserve = reserve
        self.margin_s = margin_s
        self.interval_s = 10.0
        self.window_max: int | None = None
        self.window_remaining: int | None = None
        self.observed_at: float | None = None
        self.daily: int | None = None
        self.daily_remaining: int | None = None
        #: when the daily figures were last seen (their day is the portal's day of this time)
        self.seen_at: float | None = None
        self.waited_s = 0.0
        self._calls: deque[float] = deque()
        self._searches: deque[float] = deque()
        self._lock = threading.RLock()
        self._bucket: TokenBucket | None = None
        self._last_at = 0.0
        #: the calls' latency (moving average): how many in flight the rate can use
        self.latency_s: float | None = None
        #: calls in flight, adapted to how the portal answers
        self.concurrency = AdaptiveConcurrency(max_in_flight, maximum=max_in_flight_cap)

    # ---- the shared-budget interface (connectors.budget.ApiBudget)

    def acquire(self, *, search: bool = False) -> None:
        """Wait for a concurrency slot, then for the call's turn (see :meth:`before_call`)."""
        self.concurrency.acquire()
        try:
            self.before_call(search=search)
        except BaseException:
            self.concurrency.release()
            raise

    # ---- the portal's day

    @property
    def zone(self) -> tzinfo:
        """The portal's time zone, read from ``zone_source`` once it is known; UTC (a logged
        fallback, tried again at the next need) while it cannot be read."""
        if self._zone is not None:
            return self._zone
        if self.zone_source is None or self._loading:
            return UTC  # also while the source's own call passes through this governor
        self._loading = True
        try:
            zone = _load_zone(self.zone_source)
        finally:
            self._loading = False
        if zone is not None:
            self._zone = zone
        return zone or UTC

    def today(self, now: float) -> date:
        """The portal's calendar day at epoch seconds ``now``."""
        return datetime.fromtimestamp(now, tz=self.zone).date()

    # ---- before a call

    def before_call(self, *, search: bool = False) -> None:
        """Raise when the daily share is spent, wait for the call's turn: the burst window,
        the even spacing of the token bucket, the search pace. Thread-safe: the turn is
        booked under the lock, the wait happens outside it."""
        patient = not search and not is_urgent()
        while True:
            with self._lock:
                if not self._loading:  # the zone read itself is never refused by the share
                    self._check_daily()
                now = self.clock()
                early = self._unbooked_wait(now) if patient else 0.0
                if early <= 0:
                    wait = self._book(now, search)
                    self.waited_s += wait
                    break
                self.waited_s += early
            self.waiter(early)  # then book: an urgent call may have taken a turn meanwhile
            if self.clock() <= now:  # a waiter that lets no time pass: book as it comes
                patient = False
        if wait > 0:
            log.info("hubspot.rate_wait", seconds=round(wait, 3), search=search)
            self.waiter(wait)
        shared = self.shared_search if search else self.shared
        if shared is not None:  # then the budget other processes spend too
            shared.acquire(1)

    def _unbooked_wait(self, now: float) -> float:
        """How long a non-urgent call waits before it books: until its turn is at most
        :data:`LOOKAHEAD_TURNS` turns of the token bucket away (0: book now)."""
        if self._bucket is None or self._bucket.rate <= 0:
            return 0.0
        at, _held = self._turn(now, False)
        return at - now - LOOKAHEAD_TURNS / self._bucket.rate

    def wait_needed(self, *, search: bool = False) -> float:
        """Seconds to wait before the next call (0 when there is headroom)."""
        with self._lock:
            now = self.clock()
            return self._turn(now, search)[0] - now

    def _turn(self, now: float, search: bool) -> tuple[float, bool]:
        """When the next call may go (at or after ``now``) and whether the burst window held
        it back; books nothing."""
        self._forget(now)
        if search:
            if len(self._searches) < self.search_per_second:
                return now, False
            oldest = self._searches[-self.search_per_second]
            return max(now, oldest + 1.0 + self.margin_s), False
        start = max(now, self._last_at)  # in booking order: never before an earlier call
        burst = self._burst_wait(start)
        at = start + max(0.0, burst)
        if self._bucket is not None:
            at = max(at, self._bucket.ready_at(at))
        return at, burst > 0

    def _book(self, now: float, search: bool) -> float:
        """Book the next call's turn; the seconds from ``now`` until it."""
        at, held = self._turn(now, search)
        if search:  # search has its own per-second limit, outside the burst window
            self._searches.append(at)
        else:
            if self._bucket is not None:
                at = self._bucket.reserve(at)
            if held:
                self._after_wait(at)
            self._last_at = at
            self._calls.append(at)
            if self.window_remaining is not None:
                self.window_remaining -= 1
        if self.daily_remaining is not None:
            self.daily_remaining -= 1
        return at - now

    def _burst_wait(self, now: float) -> float:
        if self.window_remaining is None or self.window_remaining > self.reserve:
            return 0.0
        needed = self.reserve + 1 - self.window_remaining
        if len(self._calls) >= needed:
            # our own calls leave the rolling window one by one
            return self._calls[needed - 1] + self.interval_s + self.margin_s - now
        # someone else used the window: wait until everything seen so far has rolled out
        seen = self.observed_at if self.observed_at is not None else now
        return seen + self.interval_s + self.margin_s - now

    def _after_wait(self, now: float) -> None:
        self._forget(now)
        if self.window_remaining is None:
            return
        if self.window_max is not None and (
            self.observed_at is None or now >= self.observed_at + self.interval_s
        ):
            self.window_remaining = self.window_max
        else:
            self.window_remaining = max(self.window_remaining, self.reserve + 1)

    def _forget(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - self.interval_s:
            self._calls.popleft()
        while self._searches and self._searches[0] <= now - 1.0:
            self._searches.popleft()

    def _check_daily(self) -> None:
        if self.daily is None or self.daily_remaining is None:
            return
        used = self.daily - self.daily_remaining
        budget = int(self.daily * self.daily_share)
        if used < budget:
            return
        now = self.clock()
        # only a spent budget needs the portal's day (read once): has midnight passed there?
        if self.seen_at is not None and self.today(self.seen_at) != self.today(now):
            self.daily = self.daily_remaining = self.seen_at = None  # a new day: fresh budget
            return
        resume = next_midnight(now, self.zone)
        raise BudgetExhausted(
            f"b2sync used its share ({self.daily_share:.0%}) of HubSpot's daily API limit "
            f"({used} of {self.daily} calls); it resumes at {resume.isoformat()}, or raise "
            "daily_share in the connection config",
            resume_at=resume,
            code="DAILY_SHARE",
        )

    # ---- after a call

    def rejected(self, headers: Mapping[str, str] | None) -> None:
        """A 429: every process sharing the budget waits its ``Retry-After``."""
        for shared in (self.shared, self.shared_search):
            if shared is not None:
                shared.observe(headers, 429)

    def observe(
        self,
        headers: Mapping[str, str] | None,
        status: int | None = None,
        latency_s: float | None = None,
    ) -> None:
        """Take the latest limits from a response's headers (search responses have none);
        a 429 ``status`` halves the calls in flight, a success with its latency lets them
        grow (or shrink when latency climbs)."""
        if status == 429:
            self.concurrency.on_throttle()
        elif status is not None and status < 400:
            self.concurrency.on_success(latency_s, room=self._room(latency_s))
        if self.shared is not None and status != 429:
            self.shared.observe(headers, None)
        if not headers:
            return
        with self._lock:
            read_zone = self._observe(headers)
        if read_zone:
            _ = self.zone  # outside the lock: the read is a call through this governor

    def _room(self, latency_s: float | None) -> bool:
        """Whether more calls in flight would go faster: while the cap allows fewer calls a
        second (``limit / latency``) than the token bucket's rate, the cap is the bound and
        may grow; once it allows the rate, the bucket paces the calls and more in flight
        would only wait for tokens. Bursts the bucket smooths do not stop the growth."""
        if latency_s is not None and latency_s > 0:
            with self._lock:
                seen = self.latency_s
                self.latency_s = latency_s if seen is None else seen + (latency_s - seen) * 0.1
        bucket, latency = self._bucket, self.latency_s
        if bucket is None or not latency:
            return True
        return self.concurrency.max_in_flight < bucket.rate * latency * _ROOM_HEADROOM

    def _observe(self, headers: Mapping[str, str]) -> bool:
        """Update the limits from ``headers``; True when the portal's zone should be read."""
        low = {k.lower(): v for k, v in headers.items()}
        remaining = _int_header(low, _REMAINING)
        if remaining is not None:
            self.window_remaining = remaining
            self.observed_at = self.clock()
        maximum = _int_header(low, _MAX)
        interval = _int_header(low, _INTERVAL)
        if interval:
            self.interval_s = interval / 1000.0
        if maximum is not None and (maximum != self.window_max or self._bucket is None):
            self.window_max = maximum
            self._bucket = self._new_bucket(maximum)
        daily = _int_header(low, _DAILY)
        daily_remaining = _int_header(low, _DAILY_REMAINING)
        if daily is not None and daily_remaining is not None:
            self.daily, self.daily_remaining = daily, daily_remaining
            self.seen_at = self.clock()
            return self._zone_due()
        return False

    def _new_bucket(self, maximum: int) -> TokenBucket | None:
        """A bucket for a window of ``maximum`` calls: ``capacity`` banked plus ``rate`` over
        the window (and its margin) stays within ``maximum - reserve``."""
        allowance = maximum - self.reserve
        if allowance < 2:
            return None
        capacity = max(1.0, allowance * _BURST_SHARE)
        rate = (allowance - capacity) / (self.interval_s + self.margin_s)
        now = self.clock()
        bucket = TokenBucket(rate, capacity, now)
        # calls made before the limits were known are still in the window: they spent tokens
        self._forget(now)
        bucket.tokens -= len(self._calls)
        return bucket

    def _zone_due(self) -> bool:
        """Whether to read the portal's zone now: once half the day (or the whole share) is
        spent, early enough that the read still gets through, never on a quiet day."""
        if self._zone is not None or self._loading or self.zone_source is None:
            return False
        if self.daily is None or self.daily_remaining is None:
            return False
        used = self.daily - self.daily_remaining
        return used >= min(int(self.daily * self.daily_share), self.daily // 2)

    def on_429(self, policy: str | None, headers: Mapping[str, str] | None) -> ConnectorError:
        """The error for a 429 by its ``policyName``; also updates what the governor knows."""
        now = self.clock()
        self.observe(headers)
        policy = (policy or "").upper()
        if policy != "DAILY":
            self.concurrency.on_throttle()
        if policy == "DAILY":
            with self._lock:
                self.daily_remaining = 0
                if self.daily is None:
                    self.daily = 0
                self.seen_at = now
            resume = next_midnight(now, self.zone)
            return BudgetExhausted(
                f"HubSpot's daily API limit is reached; b2sync resumes at {resume.isoformat()}",
                resume_at=resume,
                code="DAILY",
            )
        if policy == "SECONDLY":
            return Retriable("HubSpot search rate limit reached", code=policy, retry_after=1.0)
        with self._lock:
            self.window_remaining = 0
            self.observed_at = now
        retry = retry_after_seconds(headers)
        return Retriable(
            "HubSpot burst rate limit reached",
            code=policy or "RATE_LIMIT",
            retry_after=retry if retry is not None else self.interval_s,
        )
