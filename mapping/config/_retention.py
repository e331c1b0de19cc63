"""The ``retention:`` section: purge people inactive for too long (B2Connect's rule: 3 years).

::

    retention:
      inactive_days: 1095       # no order and no profile change for this long
      action: erase             # erase from every CRM (an erasure request each), or archive
      exempt_streams: [orders, invoices]   # kept for commercial/tax retention (10 years)
      every: 1d                 # how often the daemon runs it
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["RetentionSettings"]

ExemptStream = Literal["orders", "invoices", "companies", "consents"]
_EVERY_RE = re.compile(r"^(\d+)\s*(m|h|d)$")


class RetentionSettings(BaseModel):
    """Who counts as inactive and what happens to them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inactive_days: int = Field(
        default=1095,
        ge=30,
        description="A person with no order and no profile change for this many days is inactive",
    )
    action: Literal["erase", "archive"] = Field(
        default="erase",
        description="erase: an erasure request per person (every system, tombstoned); "
        "archive: archive/soft-delete their CRM contacts and forget the links",
    )
    exempt_streams: list[ExemptStream] = Field(
        default_factory=lambda: list[ExemptStream](["orders", "invoices"]),
        description="Records of these streams are kept (commercial and tax retention)",
    )
    every: str = Field(default="1d", description="How often the daemon runs it (like 12h, 1d)")
    enabled: bool = Field(default=True, description="Run it on the daemon's schedule")

    @field_validator("every")
    @classmethod
    def _interval(cls, value: str) -> str:
        if not _EVERY_RE.match(value):
            raise ValueError(f"'{value}' is not an interval like 30m, 12h, 1d")
        return value

    @property
    def seconds(self) -> int:
        """The interval in seconds."""
        match = _EVERY_RE.match(self.every)
        assert match is not None
        return int(match.group(1)) * {"m": 60, "h": 3600, "d": 86400}[match.group(2)]
