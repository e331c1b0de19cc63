"""Objects counted while they are alive, for the memory tests (issue 18): a count of what a
run holds, read while it runs, instead of bytes or wall-clock time.

``gc.get_objects()`` cannot do this counting safely beside running threads (its list of every
object would hold a tuple another thread is still building), so the objects count themselves:
one more when made, one fewer when freed.
"""

from __future__ import annotations

import threading

__all__ = ["Alive", "counted_str"]


class Alive:
    """How many counted objects are alive now."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0

    def add(self, n: int) -> None:
        with self.lock:
            self.now += n


def counted_str(alive: Alive) -> type[str]:
    """A ``str`` subclass whose instances ``alive`` counts (equal to and hashed as the text)."""

    class Counted(str):
        __slots__ = ()

        def __new__(cls, value: str) -> Counted:
            alive.add(1)
            return super().__new__(cls, value)

        def __del__(self) -> None:
            alive.add(-1)

    return Counted
