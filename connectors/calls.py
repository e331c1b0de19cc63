"""API call counting that knows who made each call.

Each connector counts its calls per endpoint (``"METHOD /path/{template}"``) in a
:class:`CallCounter`. Pipelines may run at the same time on one connector (the shop
connection is shared), so a run cannot take the difference of the connector's totals: it
opens a :func:`call_scope` and gets exactly the calls made in its own context (its thread and
the worker threads it starts with ``contextvars.copy_context()``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["CallCounter", "call_scope"]

#: the scopes open in a context: (their counter, the one CallCounter they count or None: all)
_SCOPES: ContextVar[tuple[tuple[Counter[str], Counter[str] | None], ...]] = ContextVar(
    "b2sync_call_scopes", default=()
)
_LOCK = threading.Lock()


class CallCounter(Counter[str]):
    """A connector's calls by endpoint; every increment is counted in the scopes open in the
    calling context too."""

    def __setitem__(self, key: str, value: int) -> None:
        with _LOCK:
            delta = value - self.get(key, 0)
            super().__setitem__(key, value)
            if delta:
                for scope, only in _SCOPES.get():
                    if only is None or only is self:
                        scope[key] += delta


@contextmanager
def call_scope(of: Counter[str] | None = None) -> Iterator[Counter[str]]:
    """The calls made by any :class:`CallCounter` in this context until the block ends (only
    those of the counter ``of``, one connector's ``calls``, when given)."""
    counted: Counter[str] = Counter()
    token = _SCOPES.set((*_SCOPES.get(), (counted, of)))
    try:
        yield counted
    finally:
        _SCOPES.reset(token)
