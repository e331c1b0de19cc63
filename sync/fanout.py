"""Independent write batches of one object type in flight at once; results in input order.

A flush's upserts are independent of each other (every one is keyed on the B2Connect id), so
with ``concurrency`` above 1 the writer cuts them into the connector's own batch size
(``write_chunk``: HubSpot 100, Salesforce 200) and sends those batches through a bounded
pool: as many API calls as one serial call would have made, but up to ``concurrency`` of
them in flight. The connection's gate (:mod:`sync.locks`) bounds what all runs together keep
in flight on one connection.

Nothing is committed here: the engine commits the flush (links, hashes, dead letters, cursor)
only once every batch of it has come back, so the cursor never passes a batch the CRM has
not acknowledged, whatever order the batches complete in.

Every batch of a write goes out at once, the first one too: what a connector warms on its
first write (the id property checked, a session) it warms once under its own lock while the
other batches wait for it, so no batch is sent alone. A batch that still meets a transient
error after its retries comes back as retriable failures of its records
(:func:`connectors.chunks.unsent`), so the writer retries only those, like
:func:`connectors.chunks.send_chunks` does for a serial batch; when every batch failed that
way (nothing was acknowledged: the CRM is down) the first batch's error is raised, as a serial
write raises it. A spent budget and every other error are raised once all batches in flight
have finished.

Identity lookups (:meth:`Fanout.map`) go through the same pool: each chunk of match values
its own call, all in flight together.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from connectors.chunks import unsent
from connectors.errors import BudgetExhausted, Retriable
from connectors.records import WriteItem, WriteResult

__all__ = ["Fanout", "read_ahead", "write_chunk", "write_chunks"]

T = TypeVar("T")
R = TypeVar("R")
Send = Callable[[list[WriteItem]], list[WriteResult]]
_END: Any = object()


def write_chunk(target: Any) -> int | None:
    """The connector's records per write call (None: it does not say; never split)."""
    size = getattr(target, "write_chunk", None)
    return size if isinstance(size, int) and size > 0 else None


def write_chunks(items: Sequence[WriteItem], size: int) -> list[list[WriteItem]]:
    """``items`` in batches of ``size``: upserts first, then updates by CRM id (a connector
    sends those two kinds in separate calls, so mixing them would add calls)."""
    upserts = [item for item in items if not item.crm_id]
    updates = [item for item in items if item.crm_id]
    return [
        part[start : start + size]
        for part in (upserts, updates)
        for start in range(0, len(part), size)
    ]


class Fanout:
    """A bounded pool that sends write batches of one run concurrently (see module doc)."""

    def __init__(self, concurrency: int, name: str = "b2sync-write") -> None:
        self.concurrency = max(1, concurrency)
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._creating = threading.Lock()

    def write(self, target: Any, batch: list[WriteItem], send: Send) -> list[WriteResult]:
        """``send`` ``batch`` as one call, or cut into ``target``'s batch size and sent
        concurrently (above concurrency 1); results in ``batch``'s order either way."""
        size = write_chunk(target)
        if self.concurrency == 1 or size is None or len(batch) <= size:
            return send(batch)
        by_key = {r.key: r for r in self.send(write_chunks(batch, size), send)}
        return [by_key[item.key] for item in batch]

    def pairs(
        self,
        target: Any,
        pairs: list[tuple[str, str]],
        send: Callable[[list[tuple[str, str]]], list[WriteResult]],
    ) -> list[WriteResult]:
        """Association pairs as :meth:`write` sends records (results keyed by the from id)."""
        size = write_chunk(target)
        if self.concurrency == 1 or size is None or len(pairs) <= size:
            return send(pairs)
        chunks = [pairs[start : start + size] for start in range(0, len(pairs), size)]
        return self.send(chunks, send, key=lambda pair: str(pair[0]))

    def map(self, fn: Callable[[T], R], parts: Sequence[T]) -> list[R]:
        """``fn`` of every part, up to ``concurrency`` at once; results in order, the first
        error raised once all parts are done."""
        if self.concurrency == 1 or len(parts) <= 1:
            return [fn(part) for part in parts]
        pool = self._executor()
        futures = [pool.submit(contextvars.copy_context().run, fn, part) for part in parts]
        errors = [f.exception() for f in futures]  # waits for all
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first
        return [f.result() for f in futures]

    def _executor(self) -> ThreadPoolExecutor:
        with self._creating:  # two stages of a flush may ask at once
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=self._name)
            return self._pool

    def send(
        self,
        chunks: Sequence[list[Any]],
        send: Callable[[list[Any]], list[WriteResult]],
        key: Callable[[Any], str] = lambda item: str(item.key),
    ) -> list[WriteResult]:
        """``send`` every chunk; one result per item, in the chunks' order (``key``: the
        result key of an item, for the records of a batch that could not be sent)."""
        if not chunks:
            return []
        if len(chunks) == 1:
            return send(chunks[0])
        if self.concurrency == 1:  # serial: the first batch's error is the write's error
            first = send(chunks[0])
            return first + [r for chunk in chunks[1:] for r in _settled(send, chunk, key)]
        pool = self._executor()
        futures: list[Future[list[WriteResult]]] = [
            pool.submit(contextvars.copy_context().run, send, chunk) for chunk in chunks
        ]
        out: list[WriteResult] = []
        error: BaseException | None = None
        transient: list[Retriable] = []
        for chunk, future in zip(chunks, futures, strict=True):
            exc = future.exception()  # waits: every batch in flight finishes first
            if exc is None:
                out.extend(future.result())
            elif isinstance(exc, Retriable) and not isinstance(exc, BudgetExhausted):
                transient.append(exc)
                out.extend(unsent(key(item), exc) for item in chunk)
            else:
                error = error or exc
        if error is None and len(transient) == len(chunks):
            error = transient[0]  # nothing acknowledged: fail as the serial write fails
        if error is not None:
            raise error
        return out

    def close(self) -> None:
        """Stop the pool's threads (after what they are sending)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _settled(
    send: Callable[[list[Any]], list[WriteResult]], chunk: list[Any], key: Callable[[Any], str]
) -> list[WriteResult]:
    """A later batch: a transient error after its retries fails its records, retriable."""
    try:
        return send(chunk)
    except Retriable as exc:
        if isinstance(exc, BudgetExhausted):
            raise
        return [unsent(key(item), exc) for item in chunk]


def read_ahead(pages: Iterator[T]) -> Iterator[T]:
    """``pages`` with the next one fetched (on a thread of its own) while the caller works on
    the current one: one page ahead, never more. Closing the result waits for a fetch in
    progress, then closes ``pages``."""
    with ThreadPoolExecutor(1, thread_name_prefix="b2sync-read") as pool:

        def fetch() -> Future[T]:
            return pool.submit(contextvars.copy_context().run, _next, pages)

        pending = fetch()
        try:
            while True:
                page = pending.result()
                if page is _END:
                    return
                pending = fetch()
                yield page
        finally:
            pending.exception()  # a generator cannot be closed while it runs
            close = getattr(pages, "close", None)
            if close is not None:
                close()


def _next(pages: Iterator[T]) -> T:
    page: T = next(pages, _END)
    return page
