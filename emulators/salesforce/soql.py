"""The SOQL subset the Salesforce emulator answers: parse, validate, filter, sort, project.

Grammar: ``SELECT f, ... | COUNT() FROM SObject [WHERE cond] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]``. Conditions use AND, OR (never mixed at one
level without parentheses, as in Salesforce), NOT, parentheses, ``= != <> < <= > >=``,
``IN``/``NOT IN`` lists and ``LIKE``. The evaluator only walks the parsed tree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, cast

from emulators.salesforce._soql_ast import (
    And,
    Comparison,
    DateKeyword,
    Expr,
    InList,
    InvalidField,
    Like,
    Literal,
    LitKind,
    MalformedQuery,
    Not,
    Or,
    OrderItem,
    Query,
)
from emulators.salesforce._soql_parser import MAX_OFFSET, parse
from emulators.salesforce._soql_values import compare, find_key, like_regex, lookup, sort_key

__all__ = [
    "MAX_OFFSET",
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
    "count",
    "field_references",
    "matches",
    "parse",
    "project",
    "run",
    "sort_records",
    "validate_fields",
]

_NO_COLUMN = (
    "No such column '{field}' on entity '{sobject}'. If you are attempting to use a custom "
    "field, be sure to append the '__c' after the custom field name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)
_NO_RELATIONSHIP = (
    "Didn't understand relationship '{field}' in field path. If you are attempting to use a "
    "custom relationship, be sure to append the '__r' after the custom relationship name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)


def matches(
    where: Expr | None, record: Mapping[str, Any], *, now: dt.datetime | None = None
) -> bool:
    """Whether ``record`` satisfies the WHERE tree (``None`` matches everything).

    ``now`` anchors TODAY, LAST_N_DAYS:n and friends (UTC days); defaults to the clock.
    """
    if where is None:
        return True
    return _evaluate(where, record, now or dt.datetime.now(dt.UTC))


def _evaluate(expr: Expr, record: Mapping[str, Any], now: dt.datetime) -> bool:
    if isinstance(expr, And):
        return all(_evaluate(part, record, now) for part in expr.operands)
    if isinstance(expr, Or):
        return any(_evaluate(part, record, now) for part in expr.operands)
    if isinstance(expr, Not):
        return not _evaluate(expr.operand, record, now)
    return _leaf(expr, record, now)


def _leaf(expr: Comparison | InList | Like, record: Mapping[str, Any], now: dt.datetime) -> bool:
    value = lookup(record, expr.field)
    if isinstance(expr, Comparison):
        return _compare(value, expr.op, expr.value, now)
    if isinstance(expr, InList):
        texts = _text_set(expr)
        if texts is not None:  # all-text IN list: one set lookup, same semantics as "=" each
            hit = isinstance(value, str) and value.casefold() in texts
        else:
            hit = any(_compare(value, "=", literal, now) for literal in expr.values)
        return hit != expr.negated
    if not isinstance(value, str):
        return False
    return like_regex(expr.pattern).fullmatch(value.casefold()) is not None


def _text_set(expr: InList) -> frozenset[str] | None:
    """Casefolded values of an IN list made only of string literals (else None), worked out
    once per parsed query and kept on it: the query is matched against every record, and
    hashing its list for a cache lookup per record cost as much as the match (a lookup of
    200 emails against 100,000 contacts hashed 20 million literals)."""
    memo = expr.__dict__
    if _TEXTS not in memo:
        texts = None
        if all(literal.kind is LitKind.STRING for literal in expr.values):
            texts = frozenset(str(literal.value).casefold() for literal in expr.values)
        object.__setattr__(expr, _TEXTS, texts)  # a frozen dataclass: set past its guard
    return cast("frozenset[str] | None", memo[_TEXTS])


_TEXTS = "_b2sync_texts"


def _compare(value: Any, op: str, literal: Literal, now: dt.datetime) -> bool:
    """Salesforce's null rules: only ``!=`` is true against a null or incomparable value."""
    if literal.kind is LitKind.NULL:
        return (value is None) == (op == "=")
    if value is None:
        return op == "!="
    sign = compare(value, literal, now)
    if sign is None:
        return op == "!="
    return {
        "=": sign == 0,
        "!=": sign != 0,
        "<": sign < 0,
        "<=": sign <= 0,
        ">": sign > 0,
        ">=": sign >= 0,
    }[op]


def sort_records(
    records: Iterable[Mapping[str, Any]], order_by: Sequence[OrderItem]
) -> list[Mapping[str, Any]]:
    """A new list sorted by the ORDER BY items (stable; text case-insensitive)."""
    rows = list(records)
    for item in reversed(order_by):
        # With reverse=True Python still keeps equal keys in input order, so chaining
        # stable sorts from the last key to the first gives a multi-key sort.
        nulls_low = (not item.nulls_last) != item.descending

        def key(row: Mapping[str, Any], field: str = item.field, low: bool = nulls_low) -> Any:
            value = lookup(row, field)
            if value is None:
                return (0 if low else 2, 0, 0)
            return (1, *sort_key(value))

        rows.sort(key=key, reverse=item.descending)
    return rows


def field_references(query: Query) -> Iterator[str]:
    """Every field the query names: SELECT list, WHERE, then ORDER BY."""
    if not query.is_count:
        yield from query.fields
    if query.where is not None:
        yield from _where_fields(query.where)
    for item in query.order_by:
        yield item.field


def _where_fields(expr: Expr) -> Iterator[str]:
    if isinstance(expr, And | Or):
        for part in expr.operands:
            yield from _where_fields(part)
    elif isinstance(expr, Not):
        yield from _where_fields(expr.operand)
    else:
        yield expr.field


def validate_fields(query: Query, known_fields: Iterable[str]) -> None:
    """Raise InvalidField for the first field the sObject lacks (names case-insensitive).

    A path such as ``Account.Name`` passes when its first part is a known field, the name
    of a lookup (``AccountId``) or a custom relationship (``Foo__r`` for ``Foo__c``).
    """
    known = {name.lower() for name in known_fields}
    for name in field_references(query):
        lowered = name.lower()
        if lowered in known:
            continue
        if "." not in name:
            raise InvalidField(_NO_COLUMN.format(field=name, sobject=query.sobject))
        first = lowered.split(".", 1)[0]
        custom = first[:-3] + "__c" if first.endswith("__r") else None
        if not ({first, first + "id", custom} & known):
            relationship = name.split(".", 1)[0]
            raise InvalidField(_NO_RELATIONSHIP.format(field=relationship))


def project(record: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The requested fields of ``record``, keyed in the record's own spelling.

    A path ``Account.Name`` becomes ``{"Account": {"Name": ...}}`` (``None`` if unset).
    """
    out: dict[str, Any] = {}
    for name in fields:
        _put(out, record, name.split("."))
    return out


def _put(out: dict[str, Any], source: Mapping[str, Any], parts: list[str]) -> None:
    key = find_key(source, parts[0])
    value = source[key] if key is not None else None
    key = key or parts[0]
    if len(parts) == 1:
        out[key] = value
        return
    if not isinstance(value, Mapping):
        out.setdefault(key, None)
        return
    child = out.get(key)
    if not isinstance(child, dict):
        child = {}
        out[key] = child
    _put(child, value, parts[1:])


def _select(
    query: Query, records: Iterable[Mapping[str, Any]], now: dt.datetime | None
) -> list[Mapping[str, Any]]:
    moment = now or dt.datetime.now(dt.UTC)
    rows = [row for row in records if matches(query.where, row, now=moment)]
    rows = sort_records(rows, query.order_by)
    rows = rows[query.offset or 0 :]
    return rows if query.limit is None else rows[: query.limit]


def run(
    query: Query, records: Iterable[Mapping[str, Any]], *, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Filter, sort, apply OFFSET/LIMIT and project to the SELECT list.

    For ``COUNT()`` each counted row is an empty dict, so ``len()`` is the count.
    """
    rows = _select(query, records, now)
    if query.is_count:
        return [{} for _ in rows]
    return [project(row, query.fields) for row in rows]


def count(
    query: Query, records: Iterable[Mapping[str, Any]], *, now: dt.datetime | None = None
) -> int:
    """How many records the query returns (after OFFSET and LIMIT)."""
    return len(_select(query, records, now))
