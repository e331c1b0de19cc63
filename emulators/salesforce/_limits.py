"""Rolling 24-hour allocations: API requests, Bulk batches, Bulk 2.0 query jobs."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["DAY_S", "Limits", "RollingCounter"]

DAY_S = 86_400


class RollingCounter:
    """How much of ``maximum`` was used in the last 24 hours of ``clock``."""

    def __init__(self, clock: Callable[[], float], maximum: int) -> None:
        self.clock = clock
        self.maximum = maximum
        self._events: deque[tuple[float, int]] = deque()
        self._used = 0

    def used(self) -> int:
        horizon = self.clock() - DAY_S
        while self._events and self._events[0][0] <= horizon:
            self._used -= self._events.popleft()[1]
        return self._used

    def remaining(self) -> int:
        return max(0, self.maximum - self.used())

    def take(self, amount: int = 1) -> bool:
        """Use ``amount``; False (and nothing used) when the allocation would be exceeded."""
        if self.used() + amount > self.maximum:
            return False
        self.add(amount)
        return True

    def add(self, amount: int) -> None:
        """Record usage unconditionally (e.g. to simulate other clients of the org)."""
        self._events.append((self.clock(), amount))
        self._used += amount

    def as_limit(self) -> dict[str, int]:
        return {"Max": self.maximum, "Remaining": self.remaining()}


class Limits:
    """The org's allocations, as reported by ``GET /limits/`` and ``Sforce-Limit-Info``."""

    def __init__(self, clock: Callable[[], float], daily_limit: int) -> None:
        self.api = RollingCounter(clock, daily_limit)
        self.bulk_batches = RollingCounter(clock, 15_000)
        self.bulk_query_jobs = RollingCounter(clock, 10_000)

    def header(self) -> str:
        return f"api-usage={self.api.used()}/{self.api.maximum}"

    def body(self, data_storage_mb: int) -> dict[str, Any]:
        def fixed(maximum: int, remaining: int | None = None) -> dict[str, int]:
            return {"Max": maximum, "Remaining": maximum if remaining is None else remaining}

        return {
            "ConcurrentAsyncGetReportInstances": fixed(200),
            "ConcurrentSyncReportRuns": fixed(20),
            "DailyApiRequests": self.api.as_limit(),
            "DailyAsyncApexExecutions": fixed(250_000),
            "DailyBulkApiBatches": self.bulk_batches.as_limit(),
            "DailyBulkV2QueryFileStorageMB": fixed(976_562),
            "DailyBulkV2QueryJobs": self.bulk_query_jobs.as_limit(),
            "DailyDurableGenericStreamingApiEvents": fixed(10_000),
            "DailyDurableStreamingApiEvents": fixed(10_000),
            "DailyGenericStreamingApiEvents": fixed(10_000),
            "DailyStreamingApiEvents": fixed(10_000),
            "DailyWorkflowEmails": fixed(1_890),
            "DataStorageMB": fixed(5, max(0, 5 - data_storage_mb)),
            "FileStorageMB": fixed(20),
            "HourlyODataCallout": fixed(10_000),
            "HourlyTimeBasedWorkflow": fixed(50),
            "MassEmail": fixed(10),
            "SingleEmail": fixed(15),
        }
