"""soql_quote / soql_like / soql_identifier, checked against the emulator's SOQL parser."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.salesforce import soql_identifier, soql_like, soql_quote
from connectors.salesforce.soql import in_clauses
from emulators.salesforce.soql import Comparison, InList, Like, LitKind, parse


def _where(literal: str) -> Comparison:
    where = parse(f"SELECT Id FROM Contact WHERE Name = {literal}").where
    assert isinstance(where, Comparison)
    return where


@given(st.text())
def test_any_string_round_trips_exactly(value: str) -> None:
    """Whatever the text, the parser reads back exactly the string that was quoted."""
    literal = _where(soql_quote(value)).value
    assert literal.kind is LitKind.STRING
    assert literal.value == value


@given(st.text(), st.text())
def test_injection_stays_inside_the_literal(prefix: str, suffix: str) -> None:
    """Quote-breaking payloads remain one string comparison, never extra conditions."""
    attack = f"{prefix}' OR Name != '{suffix}"
    where = _where(soql_quote(attack))
    assert where.op == "="
    assert where.value.value == attack


@pytest.mark.parametrize(
    "attack",
    ["' OR Name != '", "\\' OR Id != null OR Name = \\'", "x\\", "'; DELETE", "\\\\' OR '1'='1"],
)
def test_known_injection_attempts_are_single_literals(attack: str) -> None:
    """Classic injection strings parse as one literal equal to the input."""
    assert _where(soql_quote(attack)).value.value == attack


@given(st.text())
def test_like_pattern_matches_text_literally(value: str) -> None:
    """soql_like escapes % and _ so the parser marks every one of them as literal."""
    where = parse(f"SELECT Id FROM Contact WHERE Name LIKE {soql_like(value)}").where
    assert isinstance(where, Like)
    assert where.pattern.value == value
    wildcards = {i for i, ch in enumerate(value) if ch in "%_"}
    assert wildcards <= where.pattern.escaped


def test_like_contains_adds_unescaped_wildcards() -> None:
    """A contains match wraps the escaped text in real % wildcards."""
    assert soql_like("50%_off", match="contains") == "'%50\\%\\_off%'"
    assert soql_like("ab", match="prefix") == "'ab%'"
    assert soql_like("ab", match="suffix") == "'%ab'"


@given(st.integers())
def test_integers_round_trip(value: int) -> None:
    """Integers come back as the same integer."""
    literal = _where(soql_quote(value)).value
    assert literal.kind is LitKind.NUMBER
    assert literal.value == value


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6))
def test_decimals_round_trip(value: Decimal) -> None:
    """Decimals are written as plain decimal numbers with the same value."""
    literal = _where(soql_quote(value)).value
    assert literal.kind is LitKind.NUMBER
    assert literal.value == float(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_have_no_exponent(value: float) -> None:
    """Floats are written as plain decimals the parser accepts."""
    text = soql_quote(value)
    assert "e" not in text.lower()
    assert _where(text).value.kind is LitKind.NUMBER


@given(st.datetimes(timezones=st.just(dt.UTC), min_value=dt.datetime(1000, 1, 1)))
def test_datetimes_round_trip_to_the_millisecond(value: dt.datetime) -> None:
    """Aware datetimes come back as the same instant, truncated to milliseconds."""
    literal = _where(soql_quote(value)).value
    assert literal.kind is LitKind.DATETIME
    assert literal.value == value.replace(microsecond=value.microsecond // 1000 * 1000)


@given(st.dates(min_value=dt.date(1000, 1, 1)))
def test_dates_round_trip(value: dt.date) -> None:
    """Dates are unquoted YYYY-MM-DD literals."""
    literal = _where(soql_quote(value)).value
    assert literal.kind is LitKind.DATE
    assert literal.value == value


def test_naive_datetime_means_utc() -> None:
    """A naive datetime is taken as UTC."""
    assert soql_quote(dt.datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"


def test_none_and_booleans() -> None:
    """None is null, booleans are true/false."""
    assert soql_quote(None) == "null"
    assert _where(soql_quote(True)).value.kind is LitKind.BOOLEAN
    assert soql_quote(False) == "false"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN")])
def test_non_finite_numbers_are_refused(value: float | Decimal) -> None:
    """NaN and infinities have no SOQL literal."""
    with pytest.raises(ValueError, match="no literal"):
        soql_quote(value)


def test_other_types_are_refused() -> None:
    """Objects without a SOQL form raise TypeError instead of being str()-ed."""
    with pytest.raises(TypeError):
        soql_quote(object())


@pytest.mark.parametrize("name", ["Contact", "B2Connect_Id__c", "B2C_Order_Line__c"])
def test_api_names_pass(name: str) -> None:
    """Plain API names are accepted as they are."""
    assert soql_identifier(name) == name


@pytest.mark.parametrize("name", ["", "Contact WHERE", "Name'", "a.b", "__c", "x___y", "1abc"])
def test_non_names_are_refused(name: str) -> None:
    """Anything that is not an API name cannot reach a query as a name."""
    with pytest.raises(ValueError, match="API name"):
        soql_identifier(name)


def test_in_clauses_stay_under_the_size_and_parse() -> None:
    """IN lists are chunked under max_chars and every chunk parses with all its values."""
    values = [f"person{i}@example.com" for i in range(500)]
    seen: list[str] = []
    for chunk, condition in in_clauses("Email", values, max_chars=1000):
        assert len(condition) <= 1000
        where = parse(f"SELECT Id FROM Contact WHERE {condition}").where
        assert isinstance(where, InList)
        assert [lit.value for lit in where.values] == chunk
        seen += [str(v) for v in chunk]
    assert seen == values
