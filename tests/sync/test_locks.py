"""Connection locks: held per call and per page, re-entrant, granted in arrival order."""

from __future__ import annotations

import threading
from collections.abc import Iterator

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
