"""The share of the org's daily API allocation b2sync may use.

Salesforce reports ``api-usage=used/max`` in ``Sforce-Limit-Info`` on every REST response.
The allocation is a **rolling 24-hour window**, not a calendar day: there is no reset
instant to wait for, calls simply age out one by one. So when the configured share is used
up, the connector pauses for one hour (``PAUSE``) and then lets one call through to read a
fresh figure; if the org is still over the share it pauses again. An hour is long enough not
to waste calls probing and short enough to resume soon after old calls age out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from simple_salesforce.api import Salesforce
from simple_salesforce.util import Usage

from connectors.errors import BudgetExhausted

__all__ = ["PAUSE", "Budget"]

PAUSE = dt.timedelta(hours=1)


class Budget:
    """Tracks ``api-usage`` and refuses calls once ``share`` of the maximum is used."""

    def __init__(self, share: float, clock: Callable[[], dt.datetime]) -> None:
        self.share = share
        self.clock = clock
        self.used: int | None = None
        self.total: int | None = None
        self._resume_at: dt.datetime | None = None
        self._reason = "share"

    def observe(self, limit_info: str) -> None:
        """Record the usage an ``Sforce-Limit-Info`` header reports (parsed by the SDK)."""
        usage = Salesforce.parse_api_usage(limit_info).get("api-usage")
        if isinstance(usage, Usage):
            self.used, self.total = usage.used, usage.total

    @property
    def exhausted(self) -> bool:
        """Whether the last known usage is at or above the share."""
        if self.used is None or not self.total:
            return False
        return self.used >= self.share * self.total

    def check(self) -> None:
        """Raise :class:`BudgetExhausted` if the next call must wait."""
        now = self.clock()
        if self._resume_at is not None and now < self._resume_at:
            raise self._error(self._resume_at, self._reason)
        self._resume_at = None
        if self.exhausted:
            raise self.pause("share")

    def pause(self, reason: str) -> BudgetExhausted:
        """Start a pause of :data:`PAUSE` and return the error announcing it; ``reason`` is
        ``"share"`` (our share used) or ``"limit"`` (Salesforce said REQUEST_LIMIT_EXCEEDED)."""
        self._resume_at = self.clock() + PAUSE
        self._reason = reason
        self.used = None  # stale once paused: the first call after the pause re-reads it
        return self._error(self._resume_at, reason)

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
