"""In-process locks: one per connection, held for one call (one batch), and one per pipeline.

Connectors are not thread-safe, so two threads must not use one at the same time; but a
long task (the consent sync over every contact, the insights refresh, an erasure sweep) must
not keep a connection from a webhook-triggered run for its whole length either. So the
:class:`~sync.runner.Runner` hands out :func:`guarded` connectors: every method call, and every
page a returned iterator yields, runs under the connection's lock and releases it at once.
A task therefore holds a connection for one API batch at a time, and runs of other pipelines
interleave their batches with it.

A pipeline's own runs take turns through :meth:`Locks.pipeline` (the scheduler's run, a
consent task releasing held records, a replay), so the same pipeline never runs twice at once
in one process; the store's lease (``locks`` table) does the same across processes.

The locks are re-entrant (a caller that holds a connection for a multi-call step, an
erasure step, still goes through its guarded connector without deadlocking itself) and fair:
waiters get the lock in arrival order, so a task that asks again right after releasing it
queues behind the webhook-triggered run that was waiting, instead of starving it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TypeVar, cast

__all__ = ["FairLock", "Locks", "guarded"]

T = TypeVar("T")


class FairLock:
    """A re-entrant lock granted in arrival order (first come, first served)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._queue: deque[object] = deque()

    def acquire(self, blocking: bool = True) -> bool:
        """Wait for the lock (at once when this thread holds it already); ``blocking=False``:
        take it only if it is free and nobody waits, else return False."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            if not blocking and (self._owner is not None or self._queue):
                return False
            ticket = object()
            self._queue.append(ticket)
            while self._owner is not None or self._queue[0] is not ticket:
                self._cond.wait()
            self._queue.popleft()
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        """Give one level back; the lock goes to the longest waiter when the last one goes."""
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("cannot release a lock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def has_waiters(self) -> bool:
        """True while some thread waits for the lock."""
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


class Locks:
    """Named re-entrant locks, created on first use."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, FairLock] = {}

    def _named(self, name: str) -> FairLock:
        with self._guard:
            lock = self._locks.get(name)
            if lock is None:
                lock = self._locks[name] = FairLock()
            return lock

    def connection(self, name: str) -> FairLock:
        """The lock of connection ``name`` (hold it for one call or one batch, not a task)."""
        return self._named(f"connection:{name}")

    def pipeline(self, name: str) -> FairLock:
        """The lock a run of pipeline ``name`` holds for the whole run."""
        return self._named(f"pipeline:{name}")


def guarded(connector: T, lock: FairLock) -> T:
    """``connector`` whose every call (and every page of an iterator it returns) holds ``lock``."""
    return cast(T, _Guarded(connector, lock))


class _Guarded:
    """A proxy that serialises calls on the wrapped object; attributes pass through."""

    __slots__ = ("_inner", "_lock")

    def __init__(self, inner: Any, lock: FairLock) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_lock", lock)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or not callable(value) or isinstance(value, type):
            return value
        lock = self._lock

        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                result = value(*args, **kwargs)
            if isinstance(result, Iterator):
                return _GuardedIterator(result, lock)
            return result

        call.__name__ = name
        call.__doc__ = getattr(value, "__doc__", None)
        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() against a concrete connector class holds
        return type(self._inner)

    def __repr__(self) -> str:
        return f"guarded({self._inner!r})"


class _GuardedIterator(Iterator[Any]):
    """Each ``next()`` (one page, so one API call or batch of calls) holds the lock."""

    __slots__ = ("_inner", "_lock")

    def __init__(self, inner: Iterator[Any], lock: FairLock) -> None:
        self._inner = inner
        self._lock = lock

    def __next__(self) -> Any:
        with self._lock:
            return next(self._inner)

    def close(self) -> None:
        """Close a wrapped generator (under the lock: its ``finally`` may call the API)."""
        close = getattr(self._inner, "close", None)
        if close is not None:
            with self._lock:
                close()
