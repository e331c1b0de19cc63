"""Batches sent chunk by chunk without making a transient fault repeat what went through.

A connector sends a large batch as several calls. When one call meets a transient error
(5xx, 429, timeout, reset) after earlier calls were accepted, raising would make the caller
retry the whole batch, re-sending every accepted chunk; in a storm such a batch may never get
through. :func:`send_chunks` returns retriable failures for that chunk and the later ones
instead, so the engine retries only those. The first chunk's error is raised: nothing was
sent yet, and a pause (:class:`BudgetExhausted`) is always raised.

When a vendor refuses a whole batch because of one bad record (HubSpot's batch 400, a
Salesforce collection's JSON_PARSER_ERROR), :func:`split_until_alone` splits it in halves
until the bad records stand alone: k bad records among n cost O(k log n) calls and every
other record is still written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from connectors.errors import BudgetExhausted, Retriable
from connectors.records import WriteResult

__all__ = ["send_chunks", "split_until_alone", "unsent"]

T = TypeVar("T")
E = TypeVar("E", bound=Exception)


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


def split_until_alone(
    chunk: list[T],
    send: Callable[[list[T]], list[WriteResult]],
    fail: Callable[[T, E], WriteResult],
    *,
    catch: type[E],
    splittable: Callable[[E], bool],
) -> list[WriteResult]:
    """``send(chunk)``; when it raises a ``catch`` error that ``splittable`` says is about
    the records sent, split in halves until the bad items are alone and ``fail`` each of
    them with that error. One result per item, in order; other errors propagate."""
    try:
        return send(chunk)
    except catch as err:
        if not splittable(err):
            raise
        if len(chunk) == 1:
            return [fail(chunk[0], err)]
        mid = len(chunk) // 2
        return split_until_alone(
            chunk[:mid], send, fail, catch=catch, splittable=splittable
        ) + split_until_alone(chunk[mid:], send, fail, catch=catch, splittable=splittable)
