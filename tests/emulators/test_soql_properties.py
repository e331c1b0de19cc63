"""Property tests of the SOQL subset: escaping round trips, WHERE trees, no crashes."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.salesforce import soql
from emulators.salesforce.soql import Comparison, InvalidField, MalformedQuery, parse

SETTINGS = settings(max_examples=200, deadline=None)
NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES |= {"\b": "\\b", "\f": "\\f"}


def escape(value: str, *, like: bool = False) -> str:
    """Backslash-escape ``value`` for a quoted SOQL literal (also % and _ for LIKE)."""
    table = _ESCAPES | ({"%": "\\%", "_": "\\_"} if like else {})
    return "".join(table.get(char, char) for char in value)


# -- (a) escaping round trip ----------------------------------------------------------------


@SETTINGS
@given(value=st.text(), other=st.text())
def test_escaped_value_round_trips(value: str, other: str) -> None:
    """An escaped string parses to itself and matches only names equal to it."""
    query = parse(f"SELECT Id FROM Contact WHERE Name = '{escape(value)}'")
    assert isinstance(query.where, Comparison)
    assert query.where.value.value == value
    assert soql.matches(query.where, {"Name": value})
    expected = other.casefold() == value.casefold()
    assert soql.matches(query.where, {"Name": other}) is expected


@SETTINGS
@given(value=st.text(), other=st.text())
def test_escaped_like_pattern_matches_literally(value: str, other: str) -> None:
    """A LIKE pattern with every wildcard escaped is a case-insensitive equality test."""
    query = parse(f"SELECT Id FROM Contact WHERE Name LIKE '{escape(value, like=True)}'")
    assert soql.matches(query.where, {"Name": value})
    expected = other.casefold() == value.casefold()
    assert soql.matches(query.where, {"Name": other}) is expected


# -- (b) WHERE trees: printed SOQL evaluates like the tree itself ---------------------------

Tree = tuple[Any, ...]
Record = dict[str, Any]
NAMES = st.text(alphabet="aAbB_%'\\ ", max_size=3)
STAMPS = st.datetimes(
    min_value=dt.datetime(2026, 11, 24),
    max_value=dt.datetime(2026, 11, 26),
    timezones=st.just(dt.UTC),
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
ORDERING = ["=", "!=", "<", "<=", ">", ">="]


def _cmp(op: str, left: Any, right: Any) -> bool:
    return bool(
        {
            "=": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]
    )


def _like(pattern: list[tuple[str, str]], text: str) -> bool:
    """Oracle LIKE over (kind, char) tokens: kind 'lit', 'any' (%) or 'one' (_)."""
    if not pattern:
        return text == ""
    kind, char = pattern[0]
    if kind == "any":
        return any(_like(pattern[1:], text[i:]) for i in range(len(text) + 1))
    if not text:
        return False
    if kind == "one" or text[0] == char:
        return _like(pattern[1:], text[1:])
    return False


def _leaf_name() -> st.SearchStrategy[Tree]:
    compare = st.tuples(st.just("Name"), st.sampled_from(ORDERING), NAMES)
    pattern = st.lists(
        st.one_of(
            st.tuples(st.just("lit"), st.sampled_from("aAb_%'")),
            st.tuples(st.sampled_from(["any", "one"]), st.just("")),
        ),
        max_size=4,
    )
    like = st.tuples(st.just("Name"), st.just("LIKE"), pattern)
    in_list = st.tuples(
        st.just("Name"), st.sampled_from(["IN", "NOT IN"]), st.lists(NAMES, min_size=1, max_size=3)
    )
    return st.one_of(compare, like, in_list)


def _leaves() -> st.SearchStrategy[Tree]:
    amount = st.tuples(st.just("Amount"), st.sampled_from(ORDERING), st.integers(-3, 3))
    active = st.tuples(st.just("Active"), st.sampled_from(["=", "!="]), st.booleans())
    seen = st.tuples(st.just("Seen"), st.sampled_from(ORDERING), STAMPS)
    null = st.tuples(
        st.sampled_from(["Name", "Amount", "Active", "Seen"]),
        st.sampled_from(["=", "!="]),
        st.none(),
    )
    return st.one_of(_leaf_name(), amount, active, seen, null).map(lambda t: ("leaf", *t))


TREES = st.recursive(
    _leaves(),
    lambda sub: st.one_of(
        st.tuples(st.sampled_from(["AND", "OR"]), st.lists(sub, min_size=2, max_size=3)),
        st.tuples(st.just("NOT"), sub),
    ),
    max_leaves=8,
)
RECORDS = st.fixed_dictionaries(
    {
        "Name": st.none() | NAMES,
        "Amount": st.none() | st.integers(-3, 3),
        "Active": st.none() | st.booleans(),
        "Seen": st.none() | STAMPS,
    }
)


def _literal(value: Any, stamp_style: int) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        styles: list[Callable[[dt.datetime], str]] = [
            lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z",
            lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000",
            lambda d: d.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat(),
        ]
        return styles[stamp_style % 3](value)
    return f"'{escape(value)}'"


def to_soql(tree: Tree) -> str:
    """Print a tree as a SOQL condition (groups always parenthesised)."""
    if tree[0] in ("AND", "OR"):
        return "(" + f" {tree[0]} ".join(to_soql(t) for t in tree[1]) + ")"
    if tree[0] == "NOT":
        return f"NOT ({to_soql(tree[1])})"
    _, field, op, value = tree
    if op == "LIKE":
        pattern = "".join({"any": "%", "one": "_"}.get(k, escape(c, like=True)) for k, c in value)
        return f"{field} LIKE '{pattern}'"
    if op in ("IN", "NOT IN"):
        return f"{field} {op} (" + ", ".join(_literal(v, 0) for v in value) + ")"
    return f"{field} {op} {_literal(value, len(str(value)))}"


def evaluate(tree: Tree, record: Record) -> bool:
    """The oracle: Salesforce semantics written directly against the Python tree."""
    if tree[0] == "AND":
        return all(evaluate(t, record) for t in tree[1])
    if tree[0] == "OR":
        return any(evaluate(t, record) for t in tree[1])
    if tree[0] == "NOT":
        return not evaluate(tree[1], record)
    field: str = tree[1]
    op: str = tree[2]
    value: Any = tree[3]
    actual = record[field]
    if op == "LIKE":
        folded = [(k, c.casefold()) for k, c in value]
        return actual is not None and _like(folded, str(actual).casefold())
    if op in ("IN", "NOT IN"):
        found: bool = actual is not None and actual.casefold() in {v.casefold() for v in value}
        return found == (op == "IN")
    if value is None:
        return (actual is None) == (op == "=")
    if actual is None:
        return op == "!="
    if isinstance(actual, str):
        return _cmp(op, actual.casefold(), str(value).casefold())
    return _cmp(op, actual, value)


def _as_salesforce(record: Record) -> Record:
    seen = record["Seen"]
    stamp = None if seen is None else seen.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    return record | {"Seen": stamp}


@SETTINGS
@given(tree=TREES, records=st.lists(RECORDS, min_size=1, max_size=6))
def test_printed_tree_evaluates_like_the_tree(tree: Tree, records: list[Record]) -> None:
    """Parsing the printed tree gives the same verdict as the oracle on every record."""
    query = parse(f"SELECT Id FROM Thing WHERE {to_soql(tree)}")
    for record in records:
        assert soql.matches(query.where, _as_salesforce(record), now=NOW) is evaluate(tree, record)


# -- (c) arbitrary input never crashes the parser -------------------------------------------

SOQL_BITS = st.sampled_from(
    [
        "SELECT", "Id", "Name", "COUNT", "(", ")", ",", "FROM", "Contact", "WHERE", "AND", "OR",
        "NOT", "IN", "LIKE", "=", "!=", "<>", "<", ">=", "'a'", "'", "\\", "'\\''", "null", "true",
        "5", "-2.5", "2026-11-25", "2026-02-30", "2026-11-25T10:00:00Z", "2026-11-25T25:00:00Z",
        "TODAY", "LAST_N_DAYS", ":", "3", "ORDER", "BY", "DESC", "NULLS", "LAST", "LIMIT",
        "OFFSET", "GROUP", "Account.Name", "\n",
    ]
)  # fmt: skip


def _parse_or_reject(text: str) -> None:
    with contextlib.suppress(MalformedQuery, InvalidField):
        parse(text)


@SETTINGS
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    """Any text either parses or raises MalformedQuery."""
    _parse_or_reject(text)
    _parse_or_reject("SELECT Id FROM Contact WHERE " + text)


@SETTINGS
@given(bits=st.lists(SOQL_BITS, max_size=25))
def test_token_soup_never_crashes(bits: list[str]) -> None:
    """Random sequences of SOQL tokens either parse or raise MalformedQuery."""
    _parse_or_reject(" ".join(["SELECT", *bits]))
    _parse_or_reject(" ".join(bits))
