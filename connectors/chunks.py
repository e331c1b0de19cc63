"""Batches sent chunk by chunk without making a transient fault repeat what went through.

A connector sends a large batch as several calls. When one call meets a transient error
(5xx, 429, timeout, reset) after earlier calls were accepted, raising would make the caller
retry the whole batch, re-sending every accepted chunk; in a storm such a batch may never get
through. :func:`send_chunks` returns retriable failures for that chunk and the later ones
instead, so the engine retries only those. The first chunk's error is raised: nothing was
sent yet, and a pause (:class:`BudgetExhausted`) is always raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from connectors.errors import BudgetExhausted, Retriable
from connectors.records import WriteResult

__all__ = ["send_chunks", "unsent"]

T = TypeVar("T")


def unsent(key: str, exc: Retriable) -> WriteResult:
    """A record not sent (or not confirmed) because its call met a transient error."""
    return WriteResult.failure(key, exc.code or "RETRIABLE", exc.message, retriable=True)


def send_chunks(
    chunks: Sequence[Sequence[T]],
    send: Callable[[Sequence[T]], list[WriteResult]],
    key: Callable[[T], str],
) -> list[WriteResult]:
    """``send`` each chunk in turn; one result per item, in order (see the module doc)."""
    out: list[WriteResult] = []
    for number, chunk in enumerate(chunks):
        try:
            out.extend(send(chunk))
        except Retriable as exc:
            if number == 0 or isinstance(exc, BudgetExhausted):
                raise
            out.extend(unsent(key(item), exc) for later in chunks[number:] for item in later)
            break
    return out
