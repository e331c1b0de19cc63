"""Helpers the budget and latency tests share: threads released together, and the busiest
rolling window of a list of times."""

from __future__ import annotations

import threading
from collections.abc import Callable


def together(count: int, call: Callable[[], object], timeout: float = 120) -> list[BaseException]:
    """Run ``call`` in ``count`` threads released at once; the exceptions they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return errors


def busiest_window(times: list[float] | list[int], width: float) -> int:
    """The most times in any rolling window of ``width`` (a time ``width`` old is out)."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - width:
            start += 1
        best = max(best, end - start + 1)
    return best
