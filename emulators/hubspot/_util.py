"""Small shared helpers: timestamps, value coercion, error and batch envelopes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from emulators._base import HttpError

#: HubSpot error categories the emulator renders verbatim
CATEGORIES = frozenset(
    {
        "VALIDATION_ERROR",
        "INVALID_AUTHENTICATION",
        "MISSING_SCOPES",
        "OBJECT_NOT_FOUND",
        "CONFLICT",
        "OBJECT_ALREADY_EXISTS",
        "RATE_LIMITS",
        "INTERNAL_ERROR",
        "BAD_GATEWAY",
        "SERVICE_UNAVAILABLE",
        "LOCKED",
    }
)

_STATUS_CATEGORY = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
    423: "LOCKED",
    429: "RATE_LIMITS",
}


def category_for(status: int, code: str) -> str:
    """The HubSpot category for an error raised with ``code`` and ``status``."""
    if code in CATEGORIES:
        return code
    if status >= 500:
        return "INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE"
    return _STATUS_CATEGORY.get(status, "VALIDATION_ERROR")


def correlation_id() -> str:
    """A fresh correlation id (HubSpot uses UUIDs)."""
    return str(uuid.uuid4())


def iso_ms(ts: float) -> str:
    """``2019-10-30T03:30:17.883Z`` for an epoch-seconds float."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def epoch_ms(ts: float) -> int:
    """Epoch milliseconds for an epoch-seconds float."""
    return round(ts * 1000)


def to_epoch_ms(value: Any) -> int | None:
    """Epoch ms from epoch-ms digits, an ISO datetime or a ``YYYY-MM-DD`` date; else None."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)


def to_number(value: Any) -> float | None:
    """A float for a numeric string/number, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def as_text(value: Any) -> str:
    """How HubSpot stores a written value: always a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ";".join(as_text(v) for v in value)
    return str(value)


def property_errors_message(details: list[dict[str, Any]]) -> str:
    """HubSpot's ``Property values were not valid: [...]`` message with embedded JSON."""
    return "Property values were not valid: " + json.dumps(details, separators=(",", ":"))


def validation_error(details: list[dict[str, Any]]) -> HttpError:
    """The 400 VALIDATION_ERROR HubSpot sends for invalid property values."""
    return HttpError(
        400,
        "VALIDATION_ERROR",
        property_errors_message(details),
        errors=[
            {
                "message": d["message"],
                "code": d["error"],
                "in": d["name"],
                "context": {"propertyName": [d["name"]]},
            }
            for d in details
        ],
        context={"propertyName": [d["name"] for d in details]},
    )


def bad_request(message: str, **extra: Any) -> HttpError:
    """A plain 400 VALIDATION_ERROR."""
    return HttpError(400, "VALIDATION_ERROR", message, **extra)


def standard_error(err: HttpError, ids: list[str] | None = None) -> dict[str, Any]:
    """A ``StandardError`` element of a 207 body for one failed input."""
    context: dict[str, list[str]] = dict(err.extra.get("context") or {})
    if ids is not None:
        context["ids"] = ids
    out: dict[str, Any] = {
        "status": "error",
        "category": category_for(err.status, err.code),
        "message": err.message,
        "context": context,
        "errors": list(err.extra.get("errors") or []),
        "links": {},
    }
    if err.extra.get("subCategory"):
        out["subCategory"] = err.extra["subCategory"]
    return out


def batch_body(
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    started: float,
    completed: float,
) -> dict[str, Any]:
    """The batch envelope; errors, when present, add ``numErrors`` (the 207 variant)."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso_ms(started),
        "completedAt": iso_ms(completed),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return body


def require_inputs(body: Any, *, limit: int = 100, what: str = "inputs") -> list[Any]:
    """The ``inputs`` list of a batch body, 400 when missing or longer than ``limit``."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise bad_request("Invalid input JSON: 'inputs' is required and must be an array")
    inputs: list[Any] = body["inputs"]
    if len(inputs) > limit:
        raise bad_request(
            f"Too many {what}: {len(inputs)} were sent and at most {limit} are allowed per batch",
            context={"limit": [str(limit)]},
        )
    return inputs
