"""In-process locks: a gate per connection, passed for one call (one batch), and one lock per
pipeline.

A connection's :class:`Gate` lets up to its ``concurrency`` calls through at once (the
connectors and their rate governors are thread-safe; the gate bounds what one process keeps in
flight on one API budget), and a task that needs the connection to itself for a multi-call
step (an erasure step) holds the gate exclusively. Concurrency 1 is one call at a time. A
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
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar, cast

from connectors.budget import is_urgent
from store import ReentrantHold

__all__ = ["FairLock", "Gate", "Locks", "guarded"]

T = TypeVar("T")


class FairLock(ReentrantHold):
    """A re-entrant lock granted in arrival order (first come, first served)."""

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


#: urgent passes (a webhook's calls) a gate lets through beyond its limit
URGENT_HEADROOM = 4


class Gate(ReentrantHold):
    """Up to ``limit`` shared passes at once, or one re-entrant exclusive holder; first come,
    first served (a waiting exclusive holder is not starved by later shared calls), except
    that a pass asked for inside :func:`connectors.budget.urgent` (a webhook's run) goes
    before every waiter that is not urgent, and up to ``URGENT_HEADROOM`` of them pass
    beyond ``limit``: a backfill's calls hold their passes while they wait for the API
    budget, where the urgent call goes first too (:mod:`connectors.budget`), so it waits
    neither for their queue nor for one of them to end.

    ``with gate:`` (or :meth:`acquire`) holds it exclusively, like a :class:`FairLock`;
    :meth:`shared` is one call's pass. A thread that holds the gate exclusively, or a pass
    already, goes through again at once.
    """

    _noun = "gate"

    def __init__(self, limit: int = 1) -> None:
        if limit < 1:
            raise ValueError("a gate lets at least one call through")
        super().__init__()
        self.limit = limit
        self._passes: dict[int, int] = {}

    def _admit(self, ticket: object, exclusive: bool) -> bool:
        if self._owner is not None or self._queue[0][0] is not ticket:
            return False
        if exclusive:
            return not self._passes
        urgent = self._queue[0][2]
        return len(self._passes) < self.limit + (URGENT_HEADROOM if urgent else 0)

    def _wait(self, exclusive: bool, urgent: bool = False) -> None:
        ticket = object()
        if urgent:  # before every waiter that is not urgent (FIFO among the urgent ones)
            at = next((i for i, w in enumerate(self._queue) if not w[2]), len(self._queue))
            self._queue.insert(at, (ticket, exclusive, True))
        else:
            self._queue.append((ticket, exclusive, False))
        while not self._admit(ticket, exclusive):
            self._cond.wait()
        self._queue.popleft()
        self._cond.notify_all()  # the next shared waiter may fit too

    def acquire(self, blocking: bool = True) -> bool:
        """Hold the gate exclusively (see :meth:`FairLock.acquire`)."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            if not blocking and (self._owner is not None or self._queue or self._passes):
                return False
            if me in self._passes:
                raise RuntimeError("a thread inside a shared pass cannot take the gate exclusively")
            self._wait(exclusive=True)
            self._owner, self._depth = me, 1
            return True

    def in_flight(self) -> int:
        """Threads passing the gate now (shared passes, or 1 for an exclusive holder)."""
        with self._cond:
            return len(self._passes) + (self._owner is not None)

    @contextmanager
    def shared(self) -> Iterator[None]:
        """One call's pass: waits while ``limit`` calls are in flight or the gate is held."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                inside = True
            elif me in self._passes:
                self._passes[me] += 1
                inside = False
            else:
                self._wait(exclusive=False, urgent=is_urgent())
                self._passes[me] = 1
                inside = False
        try:
            yield
        finally:
            if not inside:
                with self._cond:
                    self._passes[me] -= 1
                    if not self._passes[me]:
                        del self._passes[me]
                        self._cond.notify_all()


class Locks:
    """Named locks and connection gates, created on first use.

    ``limits`` are the connections' ``concurrency`` (calls in flight at once; 1 if unnamed).
    """

    def __init__(self, limits: Mapping[str, int] | None = None) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, FairLock] = {}
        self._gates: dict[str, Gate] = {}
        self._limits = dict(limits or {})

    def _named(self, name: str) -> FairLock:
        with self._guard:
            lock = self._locks.get(name)
            if lock is None:
                lock = self._locks[name] = FairLock()
            return lock

    def connection(self, name: str) -> Gate:
        """The gate of connection ``name`` (pass it for one call; hold it for one multi-call
        step, never a whole task)."""
        with self._guard:
            gate = self._gates.get(name)
            if gate is None:
                gate = self._gates[name] = Gate(self._limits.get(name, 1))
            return gate

    def pipeline(self, name: str) -> FairLock:
        """The lock a run of pipeline ``name`` holds for the whole run."""
        return self._named(f"pipeline:{name}")


def guarded(connector: T, lock: FairLock | Gate) -> T:
    """``connector`` whose every call (and every page of an iterator it returns) holds ``lock``."""
    return cast(T, _Guarded(connector, lock))


class _Guarded:
    """A proxy that serialises calls on the wrapped object; attributes pass through."""

    __slots__ = ("_inner", "_lock")

    def __init__(self, inner: Any, lock: FairLock | Gate) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_lock", lock)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or not callable(value) or isinstance(value, type):
            return value
        lock = self._lock

        def call(*args: Any, **kwargs: Any) -> Any:
            with _pass(lock):
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

    def __init__(self, inner: Iterator[Any], lock: FairLock | Gate) -> None:
        self._inner = inner
        self._lock = lock

    def __next__(self) -> Any:
        with _pass(self._lock):
            return next(self._inner)

    def close(self) -> None:
        """Close a wrapped generator (under the lock: its ``finally`` may call the API)."""
        close = getattr(self._inner, "close", None)
        if close is not None:
            with _pass(self._lock):
                close()


def _pass(lock: FairLock | Gate) -> AbstractContextManager[Any]:
    """One call's hold: a gate's shared pass, or the whole lock."""
    return lock.shared() if isinstance(lock, Gate) else lock
