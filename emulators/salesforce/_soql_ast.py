"""The parsed form of a SOQL query: errors, literals, condition nodes and :class:`Query`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "And",
    "Comparison",
    "DateKeyword",
    "Expr",
    "InList",
    "InvalidField",
    "Like",
    "LitKind",
    "Literal",
    "MalformedQuery",
    "Not",
    "Or",
    "OrderItem",
    "Query",
]


class MalformedQuery(Exception):
    """The query text is not SOQL this emulator understands (400 MALFORMED_QUERY)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidField(Exception):
    """The query names a field the sObject does not have (400 INVALID_FIELD)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LitKind(enum.Enum):
    """What kind of value a literal in a condition is."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    NULL = "null"
    DATE = "date"
    DATETIME = "datetime"
    DATE_KEYWORD = "date_keyword"


@dataclass(frozen=True)
class DateKeyword:
    """A relative date literal such as ``TODAY`` or ``LAST_N_DAYS:7`` (``n`` is 0 if none)."""

    name: str
    n: int = 0


@dataclass(frozen=True)
class Literal:
    """A value written in the query.

    ``value`` is a ``str``, ``int``/``float``, ``bool``, ``None``, ``date``, aware
    ``datetime`` or :class:`DateKeyword`. For strings, ``escaped`` holds the indexes of
    ``%`` and ``_`` characters that were written escaped (literal in a LIKE pattern).
    """

    kind: LitKind
    value: Any
    escaped: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Comparison:
    """``field op value`` with op one of ``= != < <= > >=`` (``<>`` is stored as ``!=``)."""

    field: str
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    """``field IN (...)`` or, with ``negated``, ``field NOT IN (...)``."""

    field: str
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    """``field LIKE 'pattern'`` (case-insensitive, ``%`` and ``_`` wildcards)."""

    field: str
    pattern: Literal


@dataclass(frozen=True)
class Not:
    """``NOT condition``."""

    operand: Expr


@dataclass(frozen=True)
class And:
    """Two or more conditions joined by AND."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    """Two or more conditions joined by OR."""

    operands: tuple[Expr, ...]


Expr = Comparison | InList | Like | Not | And | Or


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY entry; nulls sort first unless ``nulls_last`` (Salesforce's default)."""

    field: str
    descending: bool = False
    nulls_last: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed ``SELECT ... FROM ...`` statement."""

    fields: tuple[str, ...]
    sobject: str
    where: Expr | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    is_count: bool
