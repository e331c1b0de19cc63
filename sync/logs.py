"""structlog setup: JSON lines off a TTY, console on one, with redaction before rendering.

Redaction masks email addresses, phone numbers, bearer/JWT/HubSpot/Salesforce tokens in any
string value, and replaces whole values of keys named like token/secret/password/authorization.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

__all__ = ["bind", "configure_logging", "redact", "redact_text"]

_SECRET_KEY = re.compile(
    r"(token|secret|password|passwd|authorization|api_key|apikey|session_id|cookie|private_key)",
    re.IGNORECASE,
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[jwt]"),
    (re.compile(r"\bpat-[a-z0-9]{2,4}-[A-Za-z0-9-]{8,}"), "[token]"),
    (re.compile(r"\b00D[0-9A-Za-z]{12,15}![0-9A-Za-z._]{8,}"), "[token]"),
    (re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), "[email]"),
    (re.compile(r"(?<![\w/.:-])(?:\+|00|0|\()\d[\d\s\-/().]{5,}\d(?![\w-])"), "[phone]"),
)
_REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    """Mask emails, phone numbers and tokens inside free text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key) and value not in (None, ""):
        return _REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact every value of the event before it is rendered."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def configure_logging(
    *, json: bool | None = None, level: str = "info", stream: TextIO | None = None
) -> None:
    """Configure structlog (and stdlib logging through it) once, at start-up."""
    out = stream or sys.stderr
    use_json = (not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def bind(**context: Any) -> None:
    """Bind run/pipeline/batch context for every later log line of this task."""
    structlog.contextvars.bind_contextvars(**context)
