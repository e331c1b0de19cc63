"""One logging pipeline: structlog and stdlib logging alike, redacted before rendering.

structlog events and stdlib records (uvicorn, apscheduler, urllib3, ...) both end in one
handler whose :class:`structlog.stdlib.ProcessorFormatter` runs :func:`redact` and then renders
JSON lines off a TTY, console on one. Redaction masks email addresses (also URL-encoded), phone
numbers (international and national formats), bearer/Basic/JWT/HubSpot/Salesforce tokens,
``key=value`` secrets in query strings and messages, passwords in URLs, in any string, dict key,
list, set, bytes or exception; whole values of keys named like token/secret/password/
authorization are replaced.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

__all__ = ["bind", "configure_logging", "redact", "redact_text"]

_SENSITIVE_WORDS = (
    r"token|secret|password|passwd|authorization|api_?key|session_?id|cookie|private_?key"
    r"|signature|hapikey"
)
_SECRET_KEY = re.compile(rf"({_SENSITIVE_WORDS})", re.IGNORECASE)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"(?i)\bbasic\s+[A-Za-z0-9+/=]{6,}"), "Basic [redacted]"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1[redacted]@"),
    (
        re.compile(
            rf"(?i)(\b[\w-]*(?:{_SENSITIVE_WORDS})[\w-]*[\"']?\s*[=:]\s*[\"']?)(?!(?:bearer|basic)\s|\[)[^\s\"'&,;}}]+"
        ),
        r"\1[redacted]",
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[jwt]"),
    (re.compile(r"\bpat-[a-z0-9]{2,4}-[A-Za-z0-9-]{8,}"), "[token]"),
    (re.compile(r"\b00D[0-9A-Za-z]{12,15}![0-9A-Za-z._]{8,}"), "[token]"),
    (re.compile(r"[A-Za-z0-9._%+'-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", re.I), "[email]"),
    (re.compile(r"(?<![\w/.:%-])(?:\+|%2B|00|0|\()\d[\d\s\-/().]{5,}\d(?![\w-])", re.I), "[phone]"),
    (re.compile(r"(?<![\w.:/-])\d{3}[-. ]\d{3}[-. ]\d{4}(?![\w-])"), "[phone]"),
)
_REDACTED = "[redacted]"
_PLAIN = (bool, int, float, type(None))
_HANDLER_NAME = "b2sync"


def redact_text(text: str) -> str:
    """Mask emails, phone numbers and tokens inside free text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key) and value not in (None, "", b""):
        return _REDACTED
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {redact_text(str(k)): _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(key, v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return redact_text(str(value))


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact every key and value of the event before it is rendered."""
    for key in list(event_dict):
        if key.startswith("_"):  # ProcessorFormatter's own record/logger references
            continue
        value = _redact_value(key, event_dict.pop(key))
        event_dict[redact_text(key)] = value
    return event_dict


def configure_logging(
    *, json: bool | None = None, level: str = "info", stream: TextIO | None = None
) -> None:
    """Configure structlog and stdlib logging once, at start-up: one redacting handler."""
    out = stream or sys.stderr
    use_json = (not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    _install_handler(out, formatter, numeric)


def _install_handler(out: TextIO, formatter: logging.Formatter, level: int) -> None:
    """Replace our handler on the root logger; every stdlib logger propagates to it."""
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        library = logging.getLogger(name)
        library.handlers.clear()  # uvicorn's own config would print past the redaction
        library.propagate = True


def bind(**context: Any) -> None:
    """Bind run/pipeline/batch context for every later log line of this task."""
    structlog.contextvars.bind_contextvars(**context)
