"""Safe SOQL building: every value put into a query goes through :func:`soql_quote`.

Salesforce has no bind variables over REST, so a query is text. :func:`soql_quote` turns a
Python value into a SOQL literal that cannot leave its quotes; :func:`soql_like` does the same
for ``LIKE`` patterns, where ``%`` and ``_`` must also be escaped; :func:`soql_identifier`
refuses object and field names that are not plain API names.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Literal

__all__ = ["in_clauses", "select", "soql_identifier", "soql_like", "soql_quote"]

_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_LIKE_ESCAPES = {**_ESCAPES, "%": "\\%", "_": "\\_"}
_STRING_RE = re.compile(r"[\\'\"\n\r\t\b\f]")
_LIKE_RE = re.compile(r"[\\'\"\n\r\t\b\f%_]")
_IDENTIFIER_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _escape(text: str, pattern: re.Pattern[str], table: dict[str, str]) -> str:
    return "'" + pattern.sub(lambda m: table[m.group()], text) + "'"


def _number(value: int | float | Decimal) -> str:
    if isinstance(value, int):
        return str(value)
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise ValueError(f"SOQL has no literal for {value!r}")
    return format(number, "f")


def _datetime(value: dt.datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    utc = aware.astimezone(dt.UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    millis = utc.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def soql_quote(value: object) -> str:
    """A SOQL literal for ``value``.

    Strings are single-quoted with backslash escapes for ``\\ ' " \\n \\r \\t \\b \\f``;
    None is ``null``; booleans ``true``/``false``; ints, floats and Decimals plain decimal
    numbers (no exponent); datetimes UTC ``YYYY-MM-DDThh:mm:ss[.SSS]Z`` (naive means UTC,
    precision milliseconds as Salesforce stores them); dates ``YYYY-MM-DD``.

    Raises:
        TypeError: for any other type. ValueError: for NaN and infinities.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return _number(value)
    if isinstance(value, dt.datetime):
        return _datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return _escape(value, _STRING_RE, _ESCAPES)
    raise TypeError(f"cannot put a {type(value).__name__} into SOQL")


def soql_like(
    value: str, *, match: Literal["exact", "prefix", "suffix", "contains"] = "exact"
) -> str:
    """A quoted ``LIKE`` pattern matching ``value`` literally (``%`` and ``_`` escaped),
    with ``%`` wildcards added for a prefix, suffix or contains match."""
    if not isinstance(value, str):
        raise TypeError("LIKE patterns are built from strings")
    body = _escape(value, _LIKE_RE, _LIKE_ESCAPES)[1:-1]
    if match in ("suffix", "contains"):
        body = "%" + body
    if match in ("prefix", "contains"):
        body += "%"
    return f"'{body}'"


def soql_identifier(name: str, *, path: bool = False) -> str:
    """``name`` itself if it is a plain API name (``Contact``, ``B2Connect_Id__c``), or with
    ``path`` a relationship path of them (``Account.Name``).

    Raises:
        ValueError: for anything else, so no text from data ever reaches a query as a name.
    """
    parts = name.split(".") if path and isinstance(name, str) else [name]
    for part in parts:
        if not isinstance(part, str) or not _IDENTIFIER_RE.fullmatch(part) or "___" in part:
            raise ValueError(f"{name!r} is not a Salesforce API name")
    return name


def in_clauses(
    field: str, values: Iterable[object], *, max_chars: int = 9000
) -> Iterator[tuple[list[object], str]]:
    """``field IN (...)`` conditions over ``values``, each at most ``max_chars`` long.

    Yields (the values in the chunk, the condition). Keeps every query built from one
    condition well under Salesforce's URI and SOQL length limits.
    """
    head = f"{soql_identifier(field)} IN ("
    chunk: list[object] = []
    literals: list[str] = []
    size = len(head) + 1
    for value in values:
        literal = soql_quote(value)
        if chunk and size + len(literal) + 2 > max_chars:
            yield chunk, head + ", ".join(literals) + ")"
            chunk, literals, size = [], [], len(head) + 1
        chunk.append(value)
        literals.append(literal)
        size += len(literal) + 2
    if chunk:
        yield chunk, head + ", ".join(literals) + ")"


def select(fields: Sequence[str], sobject: str) -> str:
    """``SELECT f1, f2 FROM S`` with every name checked."""
    names = ", ".join(soql_identifier(f, path=True) for f in fields)
    return f"SELECT {names} FROM {soql_identifier(sobject)}"  # noqa: S608 - names checked
