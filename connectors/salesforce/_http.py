"""The HTTP session every Salesforce call goes through: timeouts, call counts, limit header.

simple-salesforce shares one ``requests.Session`` between the client, every ``SFType`` and
``bulk2``, so this one subclass sees REST, query paging, Bulk 2.0 and OAuth token calls
alike. It counts each call under a URL template in the emulators' style
(``"PATCH /services/data/{version}/composite/sobjects/{sobject}/{field}"``), holds one of the
budget's concurrency slots while the request is out, and hands every response (its
``Sforce-Limit-Info`` header, status and latency) to the budget. A refusal for too many
long-running calls (403 ``ConcurrentPerOrgLongTxn``) reaches the budget as a throttle (429).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from connectors.calls import CallCounter

if TYPE_CHECKING:
    from connectors.salesforce._budget import Budget

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
    """A ``requests.Session`` with a default timeout, a call counter and the budget."""

    def __init__(
        self,
        *,
        timeout: float,
        budget: Budget,
        verify: str | bool = True,
        pool_size: int = 10,
    ) -> None:
        super().__init__()
        # keep a connection per call in flight (requests keeps 10 per host by default: more
        # calls at once would open and discard a connection, a TLS handshake, each time)
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(1, pool_size))
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.timeout = timeout
        self.budget = budget
        self.verify = verify
        self.calls: Counter[str] = CallCounter()
        self._count_lock = threading.Lock()

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send one request (counted even when it fails) in a budget slot; report it."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if kwargs.get("verify") is None:
            # explicit, so REQUESTS_CA_BUNDLE in the environment cannot override a ca_file
            kwargs["verify"] = self.verify
        with self._count_lock:  # several threads may share the session
            self.calls[template(method.upper(), url)] += 1
        with self.budget.in_flight():
            started = time.monotonic()
            response = super().request(method, url, *args, **kwargs)
            status = response.status_code
            if status == 403 and b"ConcurrentPerOrg" in response.content[:2000]:
                status = 429  # a throttle: the org has too many long calls in flight
            self.budget.observe(response.headers, status, time.monotonic() - started)
        return response
