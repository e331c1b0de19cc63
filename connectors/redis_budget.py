"""A vendor API budget shared by every process through Redis: N workers, one portal's limits.

Each process of a scaled-out deployment (``b2sync worker``) has its own connectors, so their
in-process governors cannot see each other's calls. :class:`RedisBudget` keeps the counts in
Redis and admits a call with one Lua script, which Redis runs atomically: no two processes can
both see the last free slot. The clock is Redis's own (``TIME``), so the hosts' clocks do not
matter.

One budget is three limits, each optional:

- **a rolling window** (HubSpot: 190 calls per 10 s per token; search: 4 per second): the
  window is a sorted set of the admitted calls' times, the exact form of a token bucket for a
  limit stated "N per rolling T" (a classic bucket of N tokens refilled at N/T lets up to 2N
  through in some T-long window; the vendor's counter would answer 429). A refused call learns
  how long until the oldest call it must outlive leaves the window.
- **a daily share** (HubSpot and Salesforce daily limits × ``daily_share``): a counter per
  day key (the caller names the day: the portal's day for HubSpot); a spent share raises
  :class:`~connectors.errors.BudgetExhausted` with the next reset, and the run pauses.
- **concurrency** (Salesforce: at most N long calls at once per org): slots in a sorted set
  with a lease time, so a slot of a killed process frees itself after ``slot_ttl_s``.

:meth:`RedisBudget.observe` takes the vendor's answer: a 429 blocks the whole budget for the
``Retry-After`` (every process waits, not only the one that met it), and daily figures in the
headers correct the daily counter when something outside b2sync spends the same portal.

The shape matches the in-process governor (``acquire(cost=1)`` blocks and returns the seconds
waited, ``observe(headers, status)``), so a connector takes either.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.errors import BudgetExhausted

__all__ = ["RedisBudget", "next_utc_day", "utc_hour"]

#: KEYS: window zset, daily counter, blocked-until, sequence, the learnt daily limit. ARGV:
#: cost, window_ms, window limit (-1: none), daily budget (-1: not known to this process),
#: daily key ttl (s), daily share (-1: no daily budget at all). A process that does not know
#: the daily limit yet (a fresh worker) takes the one another process learnt (KEYS[5]), so its
#: first calls are checked too; every admitted call is counted, known limit or not. Returns
#: {wait_ms, daily_used}: wait 0 = admitted (then also Redis's time in ms), > 0 = retry after
#: that many ms, -1 = the daily budget is spent.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local daily = tonumber(ARGV[4])
local share = tonumber(ARGV[6])
if daily < 0 and share >= 0 then
  local learnt = redis.call('GET', KEYS[5])
  if learnt then daily = math.floor(tonumber(learnt) * share) end
end
local blocked = tonumber(redis.call('GET', KEYS[3]) or '0')
if blocked > now then return {blocked - now, 0} end
local used_today = tonumber(redis.call('GET', KEYS[2]) or '0')
if daily >= 0 and used_today + cost > daily then return {-1, used_today} end
if limit >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window_ms)
  local used = redis.call('ZCARD', KEYS[1])
  if used + cost > limit then
    local must_leave = redis.call('ZRANGE', KEYS[1], used + cost - limit - 1,
                                  used + cost - limit - 1, 'WITHSCORES')
    return {tonumber(must_leave[2]) + window_ms - now + 1, used_today}
  end
  for i = 1, cost do
    local seq = redis.call('INCR', KEYS[4])
    redis.call('ZADD', KEYS[1], now, tostring(seq))
  end
  redis.call('PEXPIRE', KEYS[1], window_ms * 2)
  redis.call('PEXPIRE', KEYS[4], window_ms * 2)
end
if share >= 0 then
  redis.call('INCRBY', KEYS[2], cost)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
end
return {0, used_today + cost, now}
"""

#: KEYS: slots zset. ARGV: holder, max slots, slot ttl ms. Returns 0 (got one) or ms to wait.
_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  return 0
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, math.min(250, tonumber(first[2]) - now))
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
return 0
"""

#: KEYS: blocked-until. ARGV: ms from now. Only ever pushes the block later.
_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') < until_ms then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 1000)
end
return until_ms
"""

#: KEYS: daily counter, learnt daily limit. ARGV: used according to the vendor, ttl, the
#: vendor's limit. Only ever raises the count; remembers the limit for processes to come.
_DAILY_SEEN = """
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', tonumber(ARGV[2]))
return 1
"""


def next_utc_day(now: datetime) -> datetime:
    """The next 00:00 UTC after ``now`` (the default daily reset)."""
    day = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def utc_hour() -> tuple[str, datetime]:
    """The current UTC hour's name and when it ends: the budget period of an allocation that
    rolls over 24 hours (Salesforce). Each hour's count starts from the vendor's own figure
    (the first answer's ``api-usage``), so calls that aged out are given back hour by hour,
    and a spent share pauses until the next hour, when a fresh figure is read."""
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0)
    return now.strftime("%Y-%m-%dT%H"), start + timedelta(hours=1)


def _utc_day() -> tuple[str, datetime]:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%d"), next_utc_day(now)


@dataclass
class RedisBudget:
    """One connection's API budget in Redis, shared by every process that names ``key``.

    ``key`` names the vendor account (``hubspot:<portal>``, ``salesforce:<org>``), never a
    token. ``day`` returns the current budget day's name and when it ends (UTC by default;
    HubSpot's connector passes the portal's day).
    """

    redis: Any
    key: str
    window_limit: int | None = None
    window_s: float = 10.0
    daily_limit: int | None = None
    daily_share: float = 1.0
    concurrency: int | None = None
    slot_ttl_s: float = 120.0
    #: how a wait is spent (``threading.Event().wait`` by default; the daemon's stop event's)
    waiter: Callable[[float], Any] = field(default_factory=lambda: threading.Event().wait)
    day: Callable[[], tuple[str, datetime]] = _utc_day
    #: seconds spent waiting for the budget
    waited_s: float = 0.0
    #: Redis's time (ms) when the last call was admitted
    admitted_at_ms: int = 0
    #: the account whose daily counter this budget spends (default ``key``): a portal's
    #: search budget has its own window but spends the portal's one daily limit
    daily_key: str | None = None

    def __post_init__(self) -> None:
        self._admit = self.redis.register_script(_ADMIT)
        self._slot = self.redis.register_script(_SLOT)
        self._block = self.redis.register_script(_BLOCK)
        self._daily_seen = self.redis.register_script(_DAILY_SEEN)
        self._holder = threading.local()

    # ---- keys

    def _k(self, part: str) -> str:
        if self.daily_key is None or self.daily_key == self.key:
            return self._daily_k(part)
        # one hash tag per account: a script's keys stay in one slot of a Redis Cluster
        return self._daily_k(f"{self.key}:{part}")

    def _daily_k(self, part: str) -> str:
        return f"b2sync:budget:{{{self.daily_key or self.key}}}:{part}"

    @property
    def daily_budget(self) -> int | None:
        """The calls b2sync may spend per day (the limit × the share)."""
        if self.daily_limit is None:
            return None
        return int(self.daily_limit * self.daily_share)

    # ---- before a call

    def try_acquire(self, cost: int = 1) -> float:
        """0 when ``cost`` calls were admitted (and counted), else seconds to wait first.
        Raises :class:`BudgetExhausted` when the daily share is spent."""
        day, resets = self.day()
        daily = self.daily_budget
        answer = self._admit(
            keys=[
                self._k("window"), self._daily_k(f"day:{day}"), self._k("blocked"), self._k("seq"),
                self._daily_k("daily-limit"),
            ],
            args=[
                cost,
                int(self.window_s * 1000),
                -1 if self.window_limit is None else self.window_limit,
                -1 if daily is None else daily,
                int(timedelta(days=2).total_seconds()),
                self.daily_share,
            ],
        )  # fmt: skip
        wait_ms, used = int(answer[0]), int(answer[1])
        if wait_ms == 0:
            self.admitted_at_ms = int(answer[2])
        if wait_ms < 0:
            limit = self.daily_limit or self.redis.get(self._daily_k("daily-limit"))
            raise BudgetExhausted(
                f"the deployment used its share ({self.daily_share:.0%}) of {self.key}'s daily "
                f"API limit ({used} of {int(limit or 0)} calls, counted across every "
                f"worker); it resumes at {resets.isoformat()}, or raise daily_share",
                resume_at=resets,
                code="DAILY_SHARE",
            )
        return wait_ms / 1000.0

    def acquire(self, cost: int = 1) -> float:
        """Block until ``cost`` calls are admitted (and a concurrency slot is held, when the
        budget has one); the seconds waited. Raises :class:`BudgetExhausted` (daily share)."""
        waited = 0.0
        if self.concurrency is not None:
            waited += self._take_slot()
        try:
            while (wait := self.try_acquire(cost)) > 0:
                self.waiter(wait)
                waited += wait
        except BaseException:
            self.release()  # a refused call holds no slot
            raise
        self.waited_s += waited
        return waited

    def release(self) -> None:
        """Give back this thread's concurrency slot (no-op without a concurrency limit)."""
        holder = getattr(self._holder, "id", None)
        if self.concurrency is not None and holder is not None:
            self.redis.zrem(self._k("slots"), holder)
            self._holder.id = None

    def _take_slot(self) -> float:
        holder = getattr(self._holder, "id", None) or uuid.uuid4().hex
        self._holder.id = holder
        waited = 0.0
        while True:
            wait_ms = int(
                self._slot(
                    keys=[self._k("slots")],
                    args=[holder, self.concurrency, int(self.slot_ttl_s * 1000)],
                )
            )
            if wait_ms == 0:
                return waited
            self.waiter(wait_ms / 1000.0)
            waited += wait_ms / 1000.0

    # ---- after a call

    def observe(self, headers: Mapping[str, str] | None, status: int | None = None) -> None:
        """Learn from a response: a 429 blocks every process for its ``Retry-After`` (1 s when
        absent); the vendor's daily figures raise the shared daily count when it spent more."""
        low = {k.lower(): str(v) for k, v in (headers or {}).items()}
        if status == 429:
            try:
                seconds = max(0.05, float(low.get("retry-after", "1")))
            except ValueError:
                seconds = 1.0
            self._block(keys=[self._k("blocked")], args=[int(seconds * 1000)])
        daily, remaining = (
            low.get("x-hubspot-ratelimit-daily"),
            low.get("x-hubspot-ratelimit-daily-remaining"),
        )
        if daily and remaining and daily.isdigit() and remaining.isdigit():
            self.observe_usage(int(daily) - int(remaining), int(daily))

    def observe_usage(self, used: int, total: int) -> None:
        """The vendor's own count of the period (HubSpot's daily headers, Salesforce's
        ``api-usage=used/max``): raises the shared count when something outside b2sync (or a
        call not yet counted) spent more; learns the limit from the first answer."""
        self.daily_limit = total
        day, _ = self.day()
        self._daily_seen(
            keys=[self._daily_k(f"day:{day}"), self._daily_k("daily-limit")],
            args=[used, int(timedelta(days=2).total_seconds()), total],
        )

    def used_today(self) -> int:
        """Calls counted today across every process."""
        day, _ = self.day()
        return int(self.redis.get(self._daily_k(f"day:{day}")) or 0)
