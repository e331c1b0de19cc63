"""How many B2Connect records the push runs of this process hold at once, and its bound.

A push run holds the records it has read and not yet committed: its buffer (up to a flush,
2,000 by default), the flushes whose writes are in flight (two at most) and the flush being
committed, each with its plan and audit events. One run's share is bounded by those; but the
runs of one process (both CRMs' customers, companies and orders pipelines side by side, the
webhook lane) add up, and how many of them are at full depth at one moment is chance: the
longer a backfill, the closer its peak comes to all of them at once. So a 100,000-customer
backfill peaked higher than a 10,000-customer one, with nothing kept per customer.

:data:`IN_HAND` counts them for the whole process. A run adds a page as it takes it in and
gives a flush back once its commit ended (or it was dropped); a run that takes in a page while
the process holds more than the bound flushes what it has at once and waits until its own
flushes have committed, holding nothing, before it reads on. A run holding nothing never
waits on another, so the bound cannot deadlock the runs: each still gets a flush through.
The bound is exceeded by at most a page per run (the one it takes in when it finds the
process over the bound).

The bound is ``B2SYNC_RECORDS_IN_MEMORY`` (:data:`DEFAULT_RECORDS_IN_MEMORY` when unset; see
docs/operations.md, Memory): a property of the process and its memory, not of a tenant's
configuration, as a worker runs many tenants in one process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

__all__ = [
    "DEFAULT_RECORDS_IN_MEMORY",
    "ENV",
    "IN_HAND",
    "InHand",
    "RecordsInMemoryError",
    "records_in_memory",
]

#: the variable that sets the bound
ENV = "B2SYNC_RECORDS_IN_MEMORY"
#: the bound when ``B2SYNC_RECORDS_IN_MEMORY`` is unset: two pipelines at full depth (a buffer,
#: two flushes in flight and one committing: 8,000 records each at the default flush)
DEFAULT_RECORDS_IN_MEMORY = 16_000


class RecordsInMemoryError(ValueError):
    """``B2SYNC_RECORDS_IN_MEMORY`` is not a positive whole number."""


def records_in_memory(environ: Mapping[str, str] | None = None) -> int:
    """The bound from ``B2SYNC_RECORDS_IN_MEMORY`` (the default when unset or empty), or
    :class:`RecordsInMemoryError` saying what is wrong with it."""
    raw = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not raw:
        return DEFAULT_RECORDS_IN_MEMORY
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise RecordsInMemoryError(
            f"{ENV}={raw!r} is not a positive whole number: the records the push runs of this "
            f"process may hold at once (unset: {DEFAULT_RECORDS_IN_MEMORY:,})"
        )
    return value


class InHand:
    """The records the push runs of this process hold, against ``limit`` (thread-safe)."""

    def __init__(self, limit: int | None = None) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._held = 0
        self._peak = 0
        self._waits = 0
        self._waits_total = 0

    @property
    def limit(self) -> int:
        """The bound (read from the environment on first use unless set)."""
        if self._limit is None:
            self._limit = records_in_memory()
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._limit = value

    @property
    def held(self) -> int:
        return self._held

    @property
    def peak(self) -> int:
        """The most held at once since the last :meth:`reset_peak`."""
        return self._peak

    @property
    def drains(self) -> int:
        """How many times a run gave back what it held because the process was over the
        bound, since the last :meth:`reset_peak`."""
        return self._waits

    @property
    def drains_total(self) -> int:
        """:attr:`drains` since the process started (a metric's counter)."""
        return self._waits_total

    def take(self, count: int) -> bool:
        """Count ``count`` more records held; whether the process now holds more than the
        bound (then the run that took them gives back what it holds before reading on)."""
        limit = self.limit
        with self._lock:
            self._held += count
            self._peak = max(self._peak, self._held)
            over = self._held > limit
            if over:
                self._waits += 1
                self._waits_total += 1
            return over

    def give_back(self, count: int) -> None:
        with self._lock:
            self._held -= count

    def reset_peak(self) -> None:
        with self._lock:
            self._peak = self._held
            self._waits = 0


#: the process's count (see the module doc)
IN_HAND = InHand()
