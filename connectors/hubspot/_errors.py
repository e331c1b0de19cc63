"""HubSpot error bodies parsed once, and the translation of statuses to connector errors.

Each hubspot-api-client sub-package has its own ``ApiException`` (no common base), so errors
are recognised by duck typing (a ``status`` attribute). Bodies are parsed here and then
dropped from the vendor exception, so a chained traceback never prints personal data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import ConnectorError, Fatal, Retriable

from ._governor import RateGovernor, retry_after_seconds

__all__ = [
    "AuthFailed",
    "ErrorBody",
    "HubSpotApiError",
    "parse_body",
    "translate",
]

#: statuses a later attempt may get past
_TRANSIENT = frozenset({0, 408, 423, 477, 500, 502, 503, 504, 520, 521, 522, 524})
_DETAILS = re.compile(r"(\[\s*\{.*\}\s*\])", re.DOTALL)


@dataclass(frozen=True)
class ErrorBody:
    """What b2sync needs of a HubSpot error body (or of one 207 ``StandardError``)."""

    category: str = ""
    message: str = ""
    policy_name: str | None = None
    context: Mapping[str, list[str]] = field(default_factory=dict)
    #: (property name, detail code) pairs from ``errors[]``, ``context`` and the message
    properties: tuple[tuple[str, str], ...] = ()
    #: OAuth scopes a 403 says are missing
    scopes: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        """The most specific code: the first detail code, else the category."""
        for _name, code in self.properties:
            if code:
                return code
        return self.category or "ERROR"

    @property
    def field(self) -> str | None:
        """The first offending property, when the error names one."""
        return self.properties[0][0] if self.properties else None

    def ids(self) -> set[str]:
        """Every id-like value in ``context`` (ids, trace ids, from/to object ids)."""
        out: set[str] = set()
        for values in self.context.values():
            out.update(str(v) for v in values)
        return out


class AuthFailed(Fatal):
    """HubSpot refused the token (401): fatal unless a rotated secret fixes it."""


class HubSpotApiError(Fatal):
    """A non-2xx answer the call site decides about (400, 404, 409...).

    Call sites turn it into per-record failures or a clearer error; one that escapes them is
    :class:`Fatal` (the request itself is wrong, so retrying cannot help).
    """

    def __init__(self, status: int, body: ErrorBody, template: str) -> None:
        super().__init__(
            f"HubSpot answered {status} {body.category or 'error'} to {template}",
            code=body.category or str(status),
        )
        self.status = status
        self.body = body
        self.template = template


def _as_dict(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if hasattr(raw, "to_dict"):
        data = raw.to_dict(True)  # serialize=True: the JSON key names
        return data if isinstance(data, dict) else {}
    if isinstance(raw, bytes | str) and raw:
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return {}


def _context(raw: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(raw, dict):
        for key, values in raw.items():
            seq = values if isinstance(values, list | tuple) else [values]
            out[str(key)] = [str(v) for v in seq if v is not None]
    return out


def _properties(data: Mapping[str, Any], message: str) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for raw in data.get("errors") or []:
        detail = _as_dict(raw)
        named = _context(detail.get("context")).get("propertyName", [])
        name = detail.get("in") or next(iter(named), None)
        if name:
            found.append((str(name), str(detail.get("code") or "")))
    match = _DETAILS.search(message)
    if match:
        try:
            embedded = json.loads(match.group(1))
        except ValueError:
            embedded = []
        for item in embedded if isinstance(embedded, list) else []:
            if isinstance(item, dict) and item.get("name"):
                pair = (str(item["name"]), str(item.get("error") or ""))
                if pair not in found:
                    found.append(pair)
    for name in _context(data.get("context")).get("propertyName", []):
        if not any(n == name for n, _ in found):
            found.append((name, ""))
    return tuple(found)


def parse_body(raw: Any) -> ErrorBody:
    """An :class:`ErrorBody` from a JSON text, a dict or a generated ``StandardError`` model."""
    data = _as_dict(raw)
    # generated models use snake_case keys in to_dict()
    category = str(data.get("category") or data.get("errorType") or "")
    message = str(data.get("message") or "")
    policy = data.get("policyName") or data.get("policy_name")
    context = _context(data.get("context"))
    contexts = [context, *(_context(_as_dict(d).get("context")) for d in data.get("errors") or [])]
    scopes = {s for ctx in contexts for k, v in ctx.items() if "scope" in k.lower() for s in v}
    return ErrorBody(
        category=category,
        message=message,
        policy_name=str(policy) if policy else None,
        context=context,
        properties=_properties(data, message),
        scopes=tuple(sorted(scopes)),
    )


def from_exception(exc: Any, template: str) -> tuple[HubSpotApiError, dict[str, str]]:
    """The parsed error and response headers of a generated client's ``ApiException``."""
    status = int(getattr(exc, "status", 0) or 0)
    body = parse_body(getattr(exc, "body", None))
    headers = dict(getattr(exc, "headers", None) or {})
    exc.body = None  # never let a traceback print the response body
    return HubSpotApiError(status, body, template), headers


def translate(
    err: HubSpotApiError, headers: Mapping[str, str], governor: RateGovernor
) -> ConnectorError | None:
    """The connector error for statuses that mean the same everywhere; None for the rest."""
    status = err.status
    if status == 429:
        return governor.on_429(err.body.policy_name, headers)
    if status == 401:
        return AuthFailed(
            "HubSpot rejected the access token (401); check the private app token of this "
            "connection and that the app is still installed",
            code=err.body.category or "INVALID_AUTHENTICATION",
        )
    if status == 403:
        scopes = err.body.scopes
        need = f" (needs {', '.join(scopes)})" if scopes else ""
        return Fatal(
            f"HubSpot refused {err.template} (403){need}; grant the private app the missing "
            "scopes and update the token",
            code=err.body.category or "MISSING_SCOPES",
        )
    if status in _TRANSIENT or status >= 500:
        return Retriable(
            f"HubSpot answered {status} to {err.template}; try again later",
            code=err.body.category or str(status),
            retry_after=retry_after_seconds(headers) or (2.0 if status == 423 else None),
        )
    return None
