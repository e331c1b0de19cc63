"""Independent preparatory calls of a connector side by side (a thread each).

A first backfill warms what each object's first write would ask one after another (HubSpot's
id property checks, Salesforce's describes for field lengths); :func:`all_at_once` makes
those calls together, each thread in a copy of the caller's context (call scopes, urgency).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["all_at_once"]

T = TypeVar("T")


def all_at_once(fn: Callable[[T], object], items: Sequence[T], name: str) -> None:
    """``fn`` of every item, side by side (one item: on this thread); the first error is
    raised once all are done."""
    if len(items) <= 1:
        for item in items:
            fn(item)
        return
    with ThreadPoolExecutor(len(items), thread_name_prefix=name) as pool:
        futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
    first = next((e for f in futures if (e := f.exception()) is not None), None)
    if first is not None:
        raise first
