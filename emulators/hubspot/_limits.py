"""Per-token rate limits: rolling 10-second window, daily counter, search per second.

The daily counter resets at midnight in the portal's time zone, not UTC (HubSpot's daily limit
follows the account's time zone setting, https://developers.hubspot.com/docs/guides/apps/
api-usage/usage-details; the zone is the ``timeZone`` of ``GET /account-info/v3/details``,
https://developers.hubspot.com/docs/api-reference/latest/account/account-information/guide).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"
SECONDLY = "SECONDLY"

MESSAGES = {
    TEN_SECONDLY: "You have reached your ten_secondly_rolling limit.",
    DAILY: "You have reached your daily limit.",
    SECONDLY: "You have reached your secondly limit.",
}


class RateLimiter:
    """Counts accepted calls per token; :meth:`check` admits a call or names the policy hit."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        per_10s: int,
        daily: int,
        search_per_second: int,
        zone: tzinfo = UTC,
    ) -> None:
        self.clock = clock
        self.zone = zone
        self.per_10s = per_10s
        self.daily = daily
        self.search_per_second = search_per_second
        self.reset()

    def reset(self) -> None:
        self._window: dict[str, deque[float]] = {}
        self._search: dict[str, deque[float]] = {}
        self._days: dict[str, tuple[str, int]] = {}

    def _day_count(self, token: str, now: float) -> tuple[str, int]:
        day = datetime.fromtimestamp(now, tz=self.zone).strftime("%Y-%m-%d")
        seen_day, count = self._days.get(token, (day, 0))
        return day, count if seen_day == day else 0

    def headers(self, token: str) -> dict[str, str]:
        """The X-HubSpot-RateLimit-* headers for the token's current state."""
        now = self.clock()
        window = self._prune(self._window.setdefault(token, deque()), now - 10)
        _day, count = self._day_count(token, now)
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily - count)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(self.per_10s),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.per_10s - len(window))),
        }

    def usage(self, token: str) -> dict[str, int]:
        """The limits and what ``token`` used of them (window: the last 10 seconds)."""
        now = self.clock()
        window = self._prune(self._window.setdefault(token, deque()), now - 10)
        return {
            "per_10s": self.per_10s,
            "window_used": len(window),
            "daily": self.daily,
            "daily_used": self._day_count(token, now)[1],
        }

    def check(self, token: str, *, search: bool = False) -> str | None:
        """None when the call is admitted (and counted), else the policy name it hit."""
        now = self.clock()
        day, count = self._day_count(token, now)
        if count >= self.daily:
            return DAILY
        if search:
            window = self._prune(self._search.setdefault(token, deque()), now - 1)
            if len(window) >= self.search_per_second:
                return SECONDLY
        else:
            window = self._prune(self._window.setdefault(token, deque()), now - 10)
            if len(window) >= self.per_10s:
                return TEN_SECONDLY
        window.append(now)
        self._days[token] = (day, count + 1)
        return None

    @staticmethod
    def _prune(window: deque[float], horizon: float) -> deque[float]:
        while window and window[0] <= horizon:
            window.popleft()
        return window
