"""Errors connectors raise; vendor exceptions are translated here-bound with ``raise … from``.

::

    ConnectorError
    ├── Fatal               stop the pipeline and alert (bad credentials, missing property,
    │                       unknown object): retrying cannot help
    ├── Retriable           transient (429, 5xx, timeouts, row locks); ``retry_after`` seconds
    │   └── BudgetExhausted the daily API budget is spent: checkpoint and pause the pipeline
    │                       until ``resume_at`` (not a crash, not a hot loop)
    └── Rejected            this record only (validation, duplicates): dead-letter it, go on

Only ``sync/`` decides what to do with them.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

__all__ = ["BudgetExhausted", "ConnectorError", "Fatal", "Rejected", "Retriable", "display_url"]


def display_url(url: str) -> str:
    """``url`` fit for an error message: no user:password, query string or fragment (a token
    put there would otherwise reach the run's stored error, the status API and the terminal)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class ConnectorError(Exception):
    """Base of every error a connector raises."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Fatal(ConnectorError):
    """Stop the pipeline: configuration or permission problem a retry cannot fix."""


class Retriable(ConnectorError):
    """Transient: try again after ``retry_after`` seconds (None: use backoff)."""

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class BudgetExhausted(Retriable):
    """The daily (or configured share of the) API budget is used up until ``resume_at``."""

    def __init__(self, message: str, *, resume_at: datetime, code: str | None = None) -> None:
        super().__init__(message, code=code, retry_after=None)
        self.resume_at = resume_at


class Rejected(ConnectorError):
    """One record refused by the system: dead-letter it with ``code`` and ``field``."""

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field
