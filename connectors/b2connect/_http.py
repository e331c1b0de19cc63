"""One ``requests.Session`` per connection and the translation of HTTP outcomes into our errors.

401 → :class:`Fatal` (after one re-read of the token secret, in case it was rotated),
403 → :class:`Fatal` naming the header or claim at fault, 429/5xx, timeouts and connection
errors → :class:`Retriable` (``retry_after`` from ``Retry-After``). Other statuses are handed
back to the caller, which knows whether a 404 means "no such endpoint" or "no such record".
Bodies are never logged: only the route template, the status and the problem ``type``.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib import metadata
from typing import Any

import requests
import structlog

from connectors.calls import CallCounter
from connectors.errors import Fatal, Retriable, display_url

__all__ = ["ApiResponse", "B2ConnectHttp", "Problem", "parse_retry_after", "user_agent"]

log = structlog.get_logger(__name__)

RETRIABLE_STATUSES = frozenset({429, 502, 503, 504})


def user_agent() -> str:
    """``b2sync/<installed version>``."""
    try:
        version = metadata.version("b2sync")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"b2sync/{version}"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class Problem:
    """The parts of an RFC 7807 problem detail we act on."""

    title: str = ""
    detail: str = ""
    code: str = ""
    errors: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Any) -> Problem:
        if not isinstance(body, dict):
            return cls()
        errors = body.get("errors")
        return cls(
            title=str(body.get("title") or ""),
            detail=str(body.get("detail") or ""),
            code=str(body.get("code") or body.get("errorCode") or ""),
            errors=errors if isinstance(errors, dict) else {},
        )

    @property
    def field(self) -> str | None:
        """The first offending field named in ``errors``, if any."""
        return next(iter(self.errors), None)

    def describe(self) -> str:
        """One line for messages: detail, else title plus per-field errors; never values."""
        if self.detail:
            return self.detail
        text = self.title or "no detail given"
        if self.errors:
            parts = []
            for name, msgs in self.errors.items():
                joined = "; ".join(str(m) for m in msgs) if isinstance(msgs, list) else str(msgs)
                parts.append(f"{name}: {joined}")
            text = f"{text} ({', '.join(parts)})"
        return text


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """A response the caller must interpret: status, parsed JSON body (or None), problem."""

    status: int
    body: Any
    problem: Problem
    text_error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class B2ConnectHttp:
    """The session, the call counter and the status → error translation."""

    def __init__(
        self,
        *,
        url: str,
        token: str,
        tenant_id: str,
        timeout_s: float,
        refresh_token: Callable[[], str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.base = url.rstrip("/")
        self.tenant_id = tenant_id
        self.timeout_s = timeout_s
        self.calls: Counter[str] = CallCounter()
        self._refresh_token = refresh_token
        self._token = token
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "X-Tenant-ID": tenant_id,
                "User-Agent": user_agent(),
                "Accept": "application/json, application/problem+json",
            }
        )

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        template: str,
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> ApiResponse:
        """Call ``METHOD template`` (path parameters filled in); raise on auth/transient errors."""
        resp = self._send(method, template, path, params, json_body)
        if resp.status_code == 401 and self._rotate_token():
            resp = self._send(method, template, path, params, json_body)
        return self._translate(method, template, resp)

    # ---- internals

    def _send(
        self,
        method: str,
        template: str,
        path: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
        json_body: Any,
    ) -> requests.Response:
        url = self.base + template.format(
            **{k: urllib.parse.quote(v, safe="") for k, v in (path or {}).items()}
        )
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        self.calls[f"{method} {template}"] += 1
        try:
            return self.session.request(
                method, url, params=clean, json=json_body, timeout=self.timeout_s
            )
        except requests.Timeout as exc:
            raise Retriable(
                f"B2Connect did not answer {method} {template} within {self.timeout_s:g} s",
                code="TIMEOUT",
            ) from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise Retriable(
                f"could not reach B2Connect at {display_url(self.base)} ({type(exc).__name__}); "
                "check that the service is up and the url is right",
                code="CONNECTION",
            ) from exc
        except requests.RequestException as exc:
            raise Fatal(
                f"cannot call B2Connect at {display_url(self.base)}: {exc}; check the connection's url",
                code="BAD_URL",
            ) from exc

    def _rotate_token(self) -> bool:
        """Re-read the token secret once; True if it changed (so the call is worth repeating)."""
        if self._refresh_token is None:
            return False
        try:
            fresh = self._refresh_token()
        except Exception:  # noqa: BLE001 - an unreadable secret just means "no new token"
            log.warning("b2connect.token_reread_failed")
            return False
        if not fresh or fresh == self._token:
            return False
        self._token = fresh
        self.session.headers["Authorization"] = f"Bearer {fresh}"
        log.info("b2connect.token_rotated")
        return True

    def _translate(self, method: str, template: str, resp: requests.Response) -> ApiResponse:
        status = resp.status_code
        body, text_error = _parse_json(resp)
        problem = Problem.from_body(body) if status >= 400 else Problem()
        if status >= 400:
            log.info("b2connect.http_error", route=f"{method} {template}", status=status)
        if status == 401:
            raise Fatal(
                f"B2Connect rejected the token: {problem.describe()}; issue a new JWT for the CRM "
                "service account and update the connection's token secret",
                code="UNAUTHORIZED",
            )
        if status == 403:
            raise Fatal(_forbidden_message(problem, self.tenant_id), code="FORBIDDEN")
        if status in RETRIABLE_STATUSES or status >= 500:
            raise Retriable(
                f"B2Connect answered {status} to {method} {template}: {problem.describe()}",
                code=f"HTTP_{status}",
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
        return ApiResponse(status, body, problem, text_error)


def _parse_json(resp: requests.Response) -> tuple[Any, str | None]:
    """The JSON body (None when empty) and, if it is not JSON, why."""
    if not resp.content:
        return None, None
    try:
        return resp.json(), None
    except (ValueError, json.JSONDecodeError) as exc:
        return (
            None,
            f"the body is not JSON ({exc.__class__.__name__} at {getattr(exc, 'pos', '?')})",
        )


def _forbidden_message(problem: Problem, tenant_id: str) -> str:
    """Which header or claim B2Connect objected to, and what to do about it."""
    said = problem.describe()
    text = f"{problem.code} {problem.title} {problem.detail}".lower()
    if "tenant" in text:
        return (
            f"B2Connect refused tenant {tenant_id} ({said}): the X-Tenant-ID header must equal "
            "the token's tenant_id claim and name a tenant this B2Connect serves; set the "
            "connection's tenant_id to the token's tenant, or issue a token for this tenant"
        )
    if "service account" in text:
        return (
            f"B2Connect refused the token ({said}): it lacks the CrmServiceAccount claim; "
            "issue the token for B2Connect's CRM service account, not a user"
        )
    return (
        f"B2Connect refused the request ({said}): the token's CrmPermissions claim lacks a "
        "needed permission (ReadCustomers, UpdateCustomers, ReadOrders); grant it to the CRM "
        "service account and issue a new token"
    )
