"""Connection locks: held per call and per page, re-entrant, granted in arrival order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from sync.locks import FairLock, Locks, guarded

WAIT_S = 10


class Feed:
    """A connector-like object whose pages tell whether the lock was held while read."""

    def __init__(self, lock: FairLock) -> None:
        self.lock = lock
        self.held: list[bool] = []

    def pages(self, count: int) -> Iterator[int]:
        for n in range(count):
            self.held.append(_held_by_me(self.lock))
            yield n

    def write(self, value: int) -> int:
        self.held.append(_held_by_me(self.lock))
        return value * 2


def _held_by_me(lock: FairLock) -> bool:
    """True when this thread holds ``lock`` (another thread cannot take it meanwhile)."""
    taken = threading.Event()

    def other() -> None:
        if lock.acquire(blocking=False):
            lock.release()
            taken.set()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(WAIT_S)
    return not taken.is_set()


def test_each_call_and_each_page_hold_the_lock_and_release_it_between() -> None:
    """A guarded call and every page of its iterator hold the lock; between them it is free."""
    lock = Locks().connection("hubspot")
    feed = Feed(lock)
    proxy = guarded(feed, lock)
    seen_between = []
    for _page in proxy.pages(3):
        seen_between.append(_held_by_me(lock))
    assert proxy.write(2) == 4
    assert feed.held == [True, True, True, True]
    assert seen_between == [False, False, False]


def test_a_waiting_thread_goes_before_the_holder_asks_again() -> None:
    """A task releasing and asking again at once queues behind the run that was waiting."""
    lock = FairLock()
    order: list[str] = []
    waiting = threading.Event()
    lock.acquire()

    def run() -> None:
        waiting.set()
        with lock:
            order.append("webhook run")

    thread = threading.Thread(target=run)
    thread.start()
    assert waiting.wait(WAIT_S)
    while not lock.has_waiters():
        threading.Event().wait(0.001)
    lock.release()
    with lock:  # the task's next batch
        order.append("task batch")
    thread.join(WAIT_S)
    assert order == ["webhook run", "task batch"]


def test_the_holder_can_take_its_lock_again() -> None:
    """Re-entrant: an erasure step holding its connection still calls the guarded connector."""
    locks = Locks()
    lock = locks.connection("salesforce")
    feed = Feed(lock)
    with lock:
        assert guarded(feed, lock).write(1) == 2
    assert feed.held == [True]


def test_an_urgent_call_passes_the_gate_before_the_calls_queued_there() -> None:
    """Issue 18: a webhook's call (inside ``connectors.budget.urgent``) waits neither for the
    backfill's calls queued at the connection's gate nor for the one in flight: it passes
    beyond the limit (a few at most). Ordering, never timing: on the old first-come gate the
    urgent calls went after every call queued before them."""
    from connectors.budget import urgent
    from sync.locks import URGENT_HEADROOM, Gate

    gate, order = Gate(limit=1), []
    held, release = threading.Event(), threading.Event()

    def in_flight() -> None:
        with gate.shared():
            held.set()
            release.wait(30)
            order.append("in flight")

    def call(name: str, is_urgent: bool) -> threading.Thread:
        def run() -> None:
            if is_urgent:
                with urgent(), gate.shared():
                    order.append(name)
            else:
                with gate.shared():
                    order.append(name)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def until(check: Callable[[], bool], what: str) -> None:
        for _ in range(2000):
            with gate._cond:
                if check():
                    return
            threading.Event().wait(0.005)
        raise AssertionError(what)

    first = threading.Thread(target=in_flight)
    first.start()
    held.wait(10)
    threads, queued = [], 0
    for i, is_urgent in enumerate([False, False, True, False, True]):
        name = f"{'webhook' if is_urgent else 'backfill'}-{i}"
        threads.append(call(name, is_urgent))
        if is_urgent:
            until(lambda name=name: name in order, f"{name} never passed")
        else:
            queued += 1
            until(lambda n=queued: len(gate._queue) >= n, f"{name} never queued")
    release.set()
    for thread in [first, *threads]:
        thread.join(30)
    assert order == [
        "webhook-2",
        "webhook-4",
        "in flight",
        "backfill-0",
        "backfill-1",
        "backfill-3",
    ]

    # the headroom is bounded: with the limit and the headroom taken, an urgent call waits
    gate, inside, release = Gate(limit=1), [], threading.Event()

    def hold(is_urgent: bool) -> None:
        if is_urgent:
            with urgent(), gate.shared():
                inside.append(1)
                release.wait(30)
        else:
            with gate.shared():
                inside.append(0)
                release.wait(30)

    holders = [threading.Thread(target=hold, args=(i > 0,)) for i in range(2 + URGENT_HEADROOM)]
    for thread in holders:
        thread.start()
    until(lambda: len(gate._passes) == 1 + URGENT_HEADROOM and len(gate._queue) == 1, "passes")
    assert len(inside) == 1 + URGENT_HEADROOM
    release.set()
    for thread in holders:
        thread.join(30)
    assert len(inside) == 2 + URGENT_HEADROOM
