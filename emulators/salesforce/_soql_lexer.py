"""Tokenizer for the SOQL subset: words, quoted strings, numbers, dates, datetimes, operators."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from emulators.salesforce._soql_ast import MalformedQuery

__all__ = [
    "DATETIME_RE",
    "DATE_RE",
    "Token",
    "build_datetime",
    "describe_position",
    "tokenize",
]

# Anchored with match() at a position; [0-9] rather than \d so only ASCII digits count.
DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})"
)
DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_NUMBER_RE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_SPACE_RE = re.compile(r"[ \t\r\n\f\v]+")
_OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">", "(", ")", ",", ":")
_ESCAPES = {
    "'": "'",
    '"': '"',
    "\\": "\\",
    "n": "\n",
    "N": "\n",
    "r": "\r",
    "R": "\r",
    "t": "\t",
    "T": "\t",
    "b": "\b",
    "B": "\b",
    "f": "\f",
    "F": "\f",
    "_": "_",
    "%": "%",
}


@dataclass(frozen=True)
class Token:
    """One lexical token; ``kind`` is WORD, STRING, NUMBER, DATE, DATETIME, OP or EOF."""

    kind: str
    text: str
    pos: int
    value: object = None
    escaped: frozenset[int] = field(default_factory=frozenset)


def describe_position(src: str, pos: int) -> str:
    """``column N`` (1-based), prefixed by ``row R,`` when the query spans several lines."""
    row = src.count("\n", 0, pos) + 1
    col = pos - (src.rfind("\n", 0, pos) + 1) + 1
    if "\n" in src:
        return f"row {row}, column {col}"
    return f"column {col}"


def tokenize(src: str) -> list[Token]:
    """Split ``src`` into tokens ending with an EOF token; raise MalformedQuery on bad input."""
    tokens: list[Token] = []
    pos = 0
    while True:
        space = _SPACE_RE.match(src, pos)
        if space:
            pos = space.end()
        if pos >= len(src):
            tokens.append(Token("EOF", "", pos))
            return tokens
        token = _next_token(src, pos)
        tokens.append(token)
        pos += len(token.text)


def _next_token(src: str, pos: int) -> Token:
    char = src[pos]
    if char == "'":
        return _string(src, pos)
    if match := DATETIME_RE.match(src, pos):
        return Token("DATETIME", match.group(), pos, build_datetime(match, src, pos))
    if match := DATE_RE.match(src, pos):
        return Token("DATE", match.group(), pos, _build_date(match, src, pos))
    if match := _NUMBER_RE.match(src, pos):
        text = match.group()
        value: int | float = float(text) if "." in text else int(text)
        return Token("NUMBER", text, pos, value)
    if match := _WORD_RE.match(src, pos):
        return Token("WORD", match.group(), pos, match.group())
    for op in _OPERATORS:
        if src.startswith(op, pos):
            return Token("OP", op, pos, op)
    raise MalformedQuery(f"unexpected character {char!r} at {describe_position(src, pos)}")


def _string(src: str, start: int) -> Token:
    """A single-quoted string with Salesforce's backslash escapes."""
    chars: list[str] = []
    escaped: set[int] = set()
    pos = start + 1
    while pos < len(src):
        char = src[pos]
        if char == "'":
            text = src[start : pos + 1]
            return Token("STRING", text, start, "".join(chars), frozenset(escaped))
        if char == "\\":
            nxt = src[pos + 1] if pos + 1 < len(src) else ""
            if nxt not in _ESCAPES:
                where = describe_position(src, pos)
                raise MalformedQuery(f"invalid escape sequence '\\{nxt}' at {where}")
            if nxt in "_%":
                escaped.add(len(chars))
            chars.append(_ESCAPES[nxt])
            pos += 2
            continue
        chars.append(char)
        pos += 1
    where = describe_position(src, start)
    raise MalformedQuery(f"unterminated string literal starting at {where}")


def _build_date(match: re.Match[str], src: str, pos: int) -> dt.date:
    year, month, day = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise MalformedQuery(
            f"invalid date '{match.group()}' at {describe_position(src, pos)}"
        ) from None


def build_datetime(match: re.Match[str], src: str = "", pos: int = 0) -> dt.datetime:
    """The aware datetime of a DATETIME_RE match; MalformedQuery if out of range."""
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    micros = int((fraction[1:] + "000000")[:6]) if fraction else 0
    try:
        tz = dt.UTC if zone == "Z" else _offset(zone)
        return dt.datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
    except ValueError:
        where = describe_position(src, pos) if src else "?"
        raise MalformedQuery(f"invalid datetime '{match.group()}' at {where}") from None


def _offset(zone: str) -> dt.timezone:
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise ValueError(zone)
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-delta if zone[0] == "-" else delta)
