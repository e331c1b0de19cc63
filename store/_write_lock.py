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
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any

__all__ = ["ReentrantHold", "WriteLock", "urgent_writes"]

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


class ReentrantHold(ABC):
    """A re-entrant exclusive hold (release, waiters, ``with``) that :class:`WriteLock` and the
    engine's in-process locks (``sync.locks``) share; a subclass waits in ``acquire``, queues
    its waiters in ``_queue`` and says who goes next."""

    _noun = "lock"

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._queue: Any = deque()

    @abstractmethod
    def acquire(self, blocking: bool = True) -> bool:
        """Take a level of the hold (waiting if ``blocking``); False when not taken."""

    def release(self) -> None:
        """Give one level back; the lock goes to the longest waiter when the last one goes."""
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError(f"cannot release a {self._noun} this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def has_waiters(self) -> bool:
        """True while some thread waits for it."""
        with self._cond:
            return bool(self._queue)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class WriteLock(ReentrantHold):
    """A re-entrant lock granted in order of arrival, urgent waiters first."""

    _noun = "write lock"

    def __init__(self) -> None:
        super().__init__()
        self._queue: list[tuple[int, int]] = []  # heap of (0 urgent | 1 not, arrival)
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        """Threads waiting for the lock now."""
        with self._cond:
            return len(self._queue)

    def acquire(self, blocking: bool = True) -> bool:
        """Wait for the lock (at once when this thread holds it already)."""
        del blocking  # a writer always waits its turn
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            ticket = (0 if _URGENT.get() else 1, next(self._arrivals))
            heapq.heappush(self._queue, ticket)
            try:
                while self._owner is not None or self._queue[0] != ticket:
                    self._cond.wait()
            except BaseException:  # interrupted while waiting: leave the queue
                self._queue.remove(ticket)
                heapq.heapify(self._queue)
                self._cond.notify_all()
                raise
            heapq.heappop(self._queue)
            self._owner, self._depth = me, 1
            return True
