"""The in-process write lock of a SQLite database: handed over in order, urgent writers first.

SQLite lets one write transaction at a time into a file. Threads of this process queue for
it here, in Python, instead of spinning in SQLite's busy handler (which sleeps and retries
unfairly: a writer can starve past the busy timeout while others keep winning). The lock is
re-entrant and handed to the waiters in the order they came, except that a writer inside
:func:`urgent_writes` (a webhook's run) goes before every non-urgent one already waiting (a
backfill's commits, a consent run's writes): it waits for the transaction in progress, never
for the queue behind it. Only other processes still wait on SQLite's ``busy_timeout``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType

__all__ = ["WriteLock", "urgent_writes"]

_URGENT: ContextVar[bool] = ContextVar("b2sync_store_urgent_writes", default=False)


@contextmanager
def urgent_writes() -> Iterator[None]:
    """Write transactions begun inside (on this thread, and on threads handed a copy of its
    context) take a SQLite store's write lock before non-urgent writers already waiting."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


class WriteLock:
    """A re-entrant lock granted in order of arrival, urgent waiters first."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._waiting: list[tuple[int, int]] = []  # heap of (0 urgent | 1 not, arrival)
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        """Threads waiting for the lock now."""
        with self._cond:
            return len(self._waiting)

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            ticket = (0 if _URGENT.get() else 1, next(self._arrivals))
            heapq.heappush(self._waiting, ticket)
            try:
                while self._owner is not None or self._waiting[0] != ticket:
                    self._cond.wait()
            except BaseException:  # interrupted while waiting: leave the queue
                self._waiting.remove(ticket)
                heapq.heapify(self._waiting)
                self._cond.notify_all()
                raise
            heapq.heappop(self._waiting)
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a write lock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
