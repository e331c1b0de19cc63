"""Responses in B2Connect's dialect: camelCase JSON and RFC 7807 problem details."""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.responses import Response

from emulators._base import HttpError
from emulators.b2connect._common import dumps

_TYPES = {
    400: ("https://tools.ietf.org/html/rfc9110#section-15.5.1", "Bad Request"),
    401: ("https://tools.ietf.org/html/rfc9110#section-15.5.2", "Unauthorized"),
    403: ("https://tools.ietf.org/html/rfc9110#section-15.5.4", "Forbidden"),
    404: ("https://tools.ietf.org/html/rfc9110#section-15.5.5", "Not Found"),
    405: ("https://tools.ietf.org/html/rfc9110#section-15.5.6", "Method Not Allowed"),
    409: ("https://tools.ietf.org/html/rfc9110#section-15.5.10", "Conflict"),
    410: ("https://tools.ietf.org/html/rfc9110#section-15.5.11", "Gone"),
    429: ("https://tools.ietf.org/html/rfc6585#section-4", "Too Many Requests"),
    500: ("https://tools.ietf.org/html/rfc9110#section-15.6.1", "Internal Server Error"),
    502: ("https://tools.ietf.org/html/rfc9110#section-15.6.3", "Bad Gateway"),
    503: ("https://tools.ietf.org/html/rfc9110#section-15.6.4", "Service Unavailable"),
}


def json_ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A camelCase JSON response whose money fields carry two decimals."""
    return Response(
        dumps(body).encode(),
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers=headers,
    )


def trace_id() -> str:
    """A W3C traceparent-style id, as ASP.NET puts in problem details."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def problem(err: HttpError) -> Response:
    """``application/problem+json`` for an :class:`HttpError`."""
    type_url, title = _TYPES.get(err.status, ("about:blank", "Error"))
    body: dict[str, Any] = {
        "type": type_url,
        "title": title,
        "status": err.status,
        "detail": err.message,
        "traceId": trace_id(),
    }
    body.update(err.extra.get("members") or {})  # RFC 7807 extension members
    errors = err.extra.get("errors")
    if errors:
        body["title"] = "One or more validation errors occurred."
        body["detail"] = "; ".join(f"{k}: {v[0]}" for k, v in errors.items())
        body["errors"] = errors
    return Response(
        json.dumps(body, ensure_ascii=False).encode(),
        status_code=err.status,
        media_type="application/problem+json",
        headers=err.extra.get("headers"),
    )
