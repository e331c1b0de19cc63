"""One retry policy for every connector call: tenacity, interruptible by shutdown.

``Retriable`` errors are retried with the connector's ``retry_after`` when it gives one,
else exponential backoff with jitter; ``BudgetExhausted``, ``Fatal`` and ``Rejected`` are not
retried here. Waits happen on the stop event, so SIGTERM interrupts them at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from connectors.errors import BudgetExhausted, Retriable

__all__ = ["Interrupted", "RetryPolicy", "call"]

T = TypeVar("T")
log = structlog.get_logger(__name__)


class Interrupted(Exception):
    """Shutdown was requested while waiting to retry."""


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
