"""One retry policy for every connector call: tenacity, interruptible by shutdown.

``Retriable`` errors are retried with the connector's ``retry_after`` when it gives one,
else exponential backoff with jitter; ``BudgetExhausted``, ``Fatal`` and ``Rejected`` are not
retried here. Waits happen on the stop event, so SIGTERM interrupts them at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from connectors.base import Connector
from connectors.errors import BudgetExhausted, Retriable
from connectors.records import Page, WriteResult
from sync.errors import Interrupted

__all__ = ["RetryPolicy", "call", "change_pages", "pages", "retry_failures"]

T = TypeVar("T")
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per call and the backoff bounds (seconds)."""

    attempts: int = 6
    initial: float = 0.5
    maximum: float = 60.0


def _retriable(exc: BaseException) -> bool:
    return isinstance(exc, Retriable) and not isinstance(exc, BudgetExhausted)


def call(
    fn: Callable[[], T],
    *,
    what: str,
    stop: threading.Event,
    policy: RetryPolicy = RetryPolicy(),
) -> T:
    """Run ``fn`` with retries; re-raise the last error when attempts run out."""
    backoff = wait_random_exponential(multiplier=policy.initial, max=policy.maximum)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retriable) and exc.retry_after is not None:
            return min(float(exc.retry_after), policy.maximum)
        return float(backoff(state))

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise Interrupted(f"shutdown while waiting to retry {what}")

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "connector.retry",
            what=what,
            attempt=state.attempt_number,
            error=type(exc).__name__,
            code=getattr(exc, "code", None),
            wait_s=round(state.upcoming_sleep, 2),
        )

    retrying = Retrying(
        retry=retry_if_exception(_retriable),
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)


def pages(
    open_pages: Callable[[Mapping[str, Any] | None], Iterator[Page]],
    cursor: Mapping[str, Any] | None,
    *,
    what: str,
    stop: threading.Event,
    policy: RetryPolicy = RetryPolicy(),
) -> Iterator[Page]:
    """Pages of a change read, each fetch retried like any call.

    A read that fails mid-way is reopened from the cursor of the last page it served (pages
    carry the cursor to resume after them), so pages already served are not read twice and a
    transient 5xx, 429, timeout or reset costs one page fetch, not the pipeline run.
    """
    reading: list[Iterator[Page] | None] = [None]
    resume: list[Mapping[str, Any] | None] = [cursor]

    def fetch() -> Page | None:
        current = reading[0]
        if current is None:
            current = reading[0] = iter(open_pages(resume[0]))
        try:
            return next(current)
        except StopIteration:
            return None
        except BaseException:
            reading[0] = None  # a generator that raised is finished: reopen on the next try
            raise

    while True:
        page = call(fetch, what=what, stop=stop, policy=policy)
        if page is None:
            return
        if page.cursor is not None:
            resume[0] = page.cursor
        yield page


def change_pages(
    source: Connector,
    stream: str,
    cursor: Mapping[str, Any] | None,
    *,
    what: str,
    stop: threading.Event,
    policy: RetryPolicy = RetryPolicy(),
) -> Iterator[Page]:
    """Pages of ``stream``'s changes in ``source`` after ``cursor``, as :func:`pages` reads
    them (each fetch retried, a failed read reopened from the last page served)."""
    return pages(
        lambda at: source.read_changes(stream, at), cursor, what=what, stop=stop, policy=policy
    )


def retry_failures(
    send: Callable[[list[T]], list[WriteResult]],
    items: list[T],
    *,
    stop: threading.Event,
    policy: RetryPolicy = RetryPolicy(),
) -> list[WriteResult]:
    """``send(items)`` (one result per item, in order), then again for only the items whose
    result is a retriable failure, with backoff, until they succeed or attempts run out.

    What succeeded is never sent again, so one failing chunk of a large batch cannot make the
    others repeat (or livelock a run in a storm). A shutdown during a wait returns at once.
    """
    results: list[WriteResult] = []
    todo = list(range(len(items)))
    for attempt in range(policy.attempts):
        answers = send([items[i] for i in todo])
        if not results:
            results = list(answers)
        again = []
        for index, answer in zip(todo, answers, strict=True):
            results[index] = answer
            if not answer.ok and answer.error is not None and answer.error.retriable:
                again.append(index)
        todo = again
        if not todo or attempt + 1 == policy.attempts:
            break
        if stop.wait(min(policy.initial * 2**attempt, policy.maximum)):
            break
    return results
