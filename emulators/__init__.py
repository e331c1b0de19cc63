"""b2sync emulators package."""

from __future__ import annotations

from emulators._base import FaultPlan, FaultRule, HttpError
from emulators._fakedata import EMAIL_RE
from emulators._latency import LatencyError, LatencyPlan, parse_latency

__all__ = [
    "EMAIL_RE",
    "FaultPlan",
    "FaultRule",
    "HttpError",
    "LatencyError",
    "LatencyPlan",
    "parse_latency",
]
