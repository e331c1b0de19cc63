"""The ``dead_letters:`` section: when records the CRMs refused count as a failed sync.

::

    dead_letters:
      max_pending_age: 1h   # `b2sync sync` exits 1 while a dead letter is pending longer
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DeadLetterSettings"]

_AGE_RE = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_FACTOR = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class DeadLetterSettings(BaseModel):
    """How long a pending dead letter is work in progress before it is a failure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_pending_age: str = Field(
        default="1h",
        description="`b2sync sync` reports pending dead letters of the pipelines it ran as work "
        "left and exits 1 while any is pending longer than this (like 0s, 15m, 1h, 1d); "
        "retriable ones are replayed by every run meanwhile",
    )

    @field_validator("max_pending_age")
    @classmethod
    def _age(cls, value: str) -> str:
        if not _AGE_RE.match(value):
            raise ValueError(f"'{value}' is not an age like 0s, 15m, 1h, 1d")
        return value

    @property
    def max_age(self) -> timedelta:
        """``max_pending_age`` as a timedelta."""
        match = _AGE_RE.match(self.max_pending_age)
        assert match is not None
        return timedelta(seconds=int(match.group(1)) * _FACTOR[match.group(2)])
