"""Value semantics: reading record values, comparing them with literals, sort keys.

Records carry Salesforce's JSON values: datetimes as ``2026-11-25T10:11:12.000+0000``
strings, dates as ``2026-11-25``, booleans, numbers and ``None``. The emulator has no field
types, so a value's type is inferred from what it looks like when a literal asks for it.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from emulators.salesforce._soql_ast import DateKeyword, Literal, LitKind, MalformedQuery
from emulators.salesforce._soql_lexer import DATE_RE, DATETIME_RE, build_datetime

__all__ = [
    "compare",
    "find_key",
    "like_regex",
    "lookup",
    "sort_key",
    "to_date",
    "to_datetime",
]

_NAIVE_DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
)


def find_key(record: Mapping[str, Any], name: str) -> str | None:
    """The record's own spelling of ``name`` (matched case-insensitively), or None."""
    if name in record:
        return name
    lowered = name.lower()
    for key in record:
        if key.lower() == lowered:
            return key
    return None


def lookup(record: Mapping[str, Any], path: str) -> Any:
    """The value at a field path (``Email`` or ``Account.Name``); None when absent."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        key = find_key(value, part)
        if key is None:
            return None
        value = value[key]
    return value


def to_datetime(value: Any) -> dt.datetime | None:
    """An aware UTC datetime from a datetime/date value or ISO string; None if not one."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        return _text_datetime(value)
    return None


def _text_datetime(value: str) -> dt.datetime | None:
    parsed: dt.datetime | dt.date
    try:
        if match := DATETIME_RE.fullmatch(value):
            parsed = build_datetime(match)
        elif _NAIVE_DATETIME_RE.fullmatch(value):
            parsed = dt.datetime.fromisoformat(value)
        elif DATE_RE.fullmatch(value):
            parsed = dt.date.fromisoformat(value)
        else:
            return None
    except (ValueError, MalformedQuery):
        return None
    return to_datetime(parsed)


def to_date(value: Any) -> dt.date | None:
    """The calendar date (UTC for datetimes) of a date/datetime value; None if not one."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and DATE_RE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    instant = to_datetime(value)
    return instant.date() if instant else None


def _sign(left: Any, right: Any) -> int | None:
    if left < right:
        return -1
    if left > right:
        return 1
    return 0 if left == right else None


def _in_range(day: dt.date | None, low: dt.date, high: dt.date) -> int | None:
    if day is None:
        return None
    return -1 if day < low else 1 if day > high else 0


def _keyword_range(keyword: DateKeyword, today: dt.date) -> tuple[dt.date, dt.date]:
    one = dt.timedelta(days=1)
    if keyword.name == "YESTERDAY":
        return today - one, today - one
    if keyword.name == "TOMORROW":
        return today + one, today + one
    if keyword.name == "LAST_N_DAYS":
        return today - keyword.n * one, today
    if keyword.name == "NEXT_N_DAYS":
        return today + one, today + keyword.n * one
    return today, today


def _text(value: Any, literal: Literal, now: dt.datetime) -> int | None:
    if not isinstance(value, str):
        return None
    return _sign(value.casefold(), literal.value.casefold())


def _number(value: Any, literal: Literal, now: dt.datetime) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return _sign(value, literal.value)


def _boolean(value: Any, literal: Literal, now: dt.datetime) -> int | None:
    if not isinstance(value, bool):
        return None
    return 0 if value is literal.value else 1


def _datetime(value: Any, literal: Literal, now: dt.datetime) -> int | None:
    instant = to_datetime(value)
    return None if instant is None else _sign(instant, literal.value)


def _date(value: Any, literal: Literal, now: dt.datetime) -> int | None:
    return _in_range(to_date(value), literal.value, literal.value)


def _date_keyword(value: Any, literal: Literal, now: dt.datetime) -> int | None:
    low, high = _keyword_range(literal.value, now.astimezone(dt.UTC).date())
    return _in_range(to_date(value), low, high)


_COMPARERS: dict[LitKind, Callable[[Any, Literal, dt.datetime], int | None]] = {
    LitKind.STRING: _text,
    LitKind.NUMBER: _number,
    LitKind.BOOLEAN: _boolean,
    LitKind.DATETIME: _datetime,
    LitKind.DATE: _date,
    LitKind.DATE_KEYWORD: _date_keyword,
}


def compare(value: Any, literal: Literal, now: dt.datetime) -> int | None:
    """-1, 0 or 1 as ``value`` sorts before, equal to or after ``literal``; None if the two
    cannot be compared. Date literals and keywords are day ranges (0 means within)."""
    comparer = _COMPARERS.get(literal.kind)
    return comparer(value, literal, now) if comparer else None


@functools.lru_cache(maxsize=256)
def like_regex(pattern: Literal) -> re.Pattern[str]:
    """A regex over casefolded text for a LIKE pattern (``%`` any run, ``_`` one char)."""
    parts: list[str] = []
    for index, char in enumerate(pattern.value):
        if index not in pattern.escaped and char == "%":
            parts.append(".*")
        elif index not in pattern.escaped and char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char.casefold()))
    return re.compile("".join(parts), re.DOTALL)


def sort_key(value: Any) -> tuple[int, Any]:
    """A key ordering non-null values: booleans, numbers, datetimes/dates, then text."""
    if isinstance(value, bool):
        return (0, value)
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return (1, value)
    instant = to_datetime(value)
    if instant is not None:
        return (2, instant)
    if isinstance(value, str):
        return (3, value.casefold())
    return (4, repr(value))
