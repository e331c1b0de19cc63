"""The HTTP session every Salesforce call goes through: timeouts, call counts, limit header.

simple-salesforce shares one ``requests.Session`` between the client, every ``SFType`` and
``bulk2``, so this one subclass sees REST, query paging, Bulk 2.0 and OAuth token calls
alike. It counts each call under a URL template in the emulators' style
(``"PATCH /services/data/{version}/composite/sobjects/{sobject}/{field}"``) and hands every
``Sforce-Limit-Info`` header to a callback (the budget).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

__all__ = ["CountingSession", "template"]

_API_PREFIX = "/services/data/"

# Paths below /services/data/{version}/: literal segments, or a {placeholder} for any value.
_TEMPLATES: tuple[tuple[str, ...], ...] = (
    ("composite", "sobjects"),
    ("composite", "sobjects", "{sobject}"),
    ("composite", "sobjects", "{sobject}", "{field}"),
    ("query",),
    ("query", "{locator}"),
    ("queryAll",),
    ("queryAll", "{locator}"),
    ("sobjects",),
    ("sobjects", "{sobject}"),
    ("sobjects", "{sobject}", "describe"),
    ("sobjects", "{sobject}", "{record_id}"),
    ("sobjects", "{sobject}", "{field}", "{value}"),
    ("jobs", "ingest"),
    ("jobs", "ingest", "{job_id}"),
    ("jobs", "ingest", "{job_id}", "batches"),
    ("jobs", "ingest", "{job_id}", "successfulResults"),
    ("jobs", "ingest", "{job_id}", "failedResults"),
    ("jobs", "ingest", "{job_id}", "unprocessedrecords"),
    ("jobs", "query"),
    ("jobs", "query", "{job_id}"),
    ("jobs", "query", "{job_id}", "results"),
    ("limits",),
)


def _fits(parts: list[str], pattern: tuple[str, ...]) -> bool:
    if len(parts) != len(pattern):
        return False
    pairs = zip(parts, pattern, strict=True)
    return all(p.startswith("{") or p.lower() == part.lower() for part, p in pairs)


def template(method: str, url: str) -> str:
    """``"METHOD /path/{template}"`` for a request URL (version, ids and names abstracted)."""
    path = urlsplit(url).path.rstrip("/") or "/"
    if not path.startswith(_API_PREFIX):
        return f"{method} {path}"
    version, _, rest = path[len(_API_PREFIX) :].partition("/")
    parts = rest.split("/") if rest else []
    for pattern in _TEMPLATES:
        if _fits(parts, pattern):
            parts = list(pattern)
            break
    if not version:
        return f"{method} {path}"
    tail = "/".join(parts)
    return f"{method} {_API_PREFIX}{{version}}" + (f"/{tail}" if tail else "")


class CountingSession(requests.Session):
    """A ``requests.Session`` with a default timeout, a call counter and a limit hook."""

    def __init__(
        self,
        *,
        timeout: float,
        on_limit_info: Callable[[str], None],
        verify: str | bool = True,
    ) -> None:
        super().__init__()
        self.timeout = timeout
        self.on_limit_info = on_limit_info
        self.verify = verify
        self.calls: Counter[str] = Counter()

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send one request (counted even when it fails) and report its limit header."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if kwargs.get("verify") is None:
            # explicit, so REQUESTS_CA_BUNDLE in the environment cannot override a ca_file
            kwargs["verify"] = self.verify
        self.calls[template(method.upper(), url)] += 1
        response = super().request(method, url, *args, **kwargs)
        info = response.headers.get("Sforce-Limit-Info")
        if info:
            self.on_limit_info(info)
        return response
