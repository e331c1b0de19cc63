"""Unit tests of the Salesforce emulator's SOQL parser: statement shape, conditions, errors."""

from __future__ import annotations

import datetime as dt

import pytest

from emulators.salesforce import soql
from emulators.salesforce.soql import (
    And,
    Comparison,
    InList,
    LitKind,
    MalformedQuery,
    Not,
    Or,
    OrderItem,
    parse,
)


def where(condition: str) -> soql.Expr:
    """The parsed WHERE tree of a Contact query with ``condition``."""
    tree = parse(f"SELECT Id FROM Contact WHERE {condition}").where
    assert tree is not None
    return tree


def malformed(text: str) -> str:
    """The MalformedQuery message for ``text``."""
    with pytest.raises(MalformedQuery) as info:
        parse(text)
    return info.value.message


# -- parsing: statement shape ---------------------------------------------------------------


def test_parse_keeps_field_and_object_case() -> None:
    """Fields and the sObject keep the case they were written in."""
    query = parse("SELECT Id, email, SystemModstamp FROM Contact")
    assert query.fields == ("Id", "email", "SystemModstamp")
    assert query.sobject == "Contact"
    assert query.where is None and query.order_by == () and not query.is_count


def test_keywords_are_case_insensitive() -> None:
    """Lower- and mixed-case keywords parse like upper-case ones."""
    query = parse("select Id from Contact wHeRe Name = 'a' order by Id desc nulls last limit 3")
    assert query.limit == 3
    assert query.order_by == (OrderItem("Id", descending=True, nulls_last=True),)


def test_count_query() -> None:
    """SELECT COUNT() parses as a count query."""
    query = parse("SELECT COUNT() FROM Contact WHERE IsDeleted = false")
    assert query.fields == ("COUNT()",)
    assert query.is_count


def test_count_of_a_field_is_rejected() -> None:
    """Aggregate COUNT(field) is outside the subset."""
    assert "COUNT()" in malformed("SELECT COUNT(Id) FROM Contact")


def test_order_by_defaults() -> None:
    """ORDER BY defaults to ascending with nulls first."""
    query = parse("SELECT Id FROM Contact ORDER BY SystemModstamp, Id")
    assert query.order_by == (OrderItem("SystemModstamp"), OrderItem("Id"))


def test_limit_and_offset() -> None:
    """LIMIT and OFFSET are read as integers."""
    query = parse("SELECT Id FROM Contact LIMIT 200 OFFSET 400")
    assert (query.limit, query.offset) == (200, 400)


def test_offset_above_2000_is_rejected() -> None:
    """Salesforce caps OFFSET at 2000."""
    assert "2000" in malformed("SELECT Id FROM Contact OFFSET 2001")


@pytest.mark.parametrize("clause", ["LIMIT -1", "LIMIT 1.5", "LIMIT x", "LIMIT"])
def test_limit_needs_a_non_negative_integer(clause: str) -> None:
    """LIMIT takes only a non-negative integer."""
    malformed(f"SELECT Id FROM Contact {clause}")


def test_offset_before_limit_is_rejected() -> None:
    """OFFSET must follow LIMIT."""
    assert "LIMIT" in malformed("SELECT Id FROM Contact OFFSET 1 LIMIT 1")


def test_duplicate_field_is_rejected() -> None:
    """Selecting the same field twice (any case) is an error."""
    assert "duplicate field selected" in malformed("SELECT Id, ID FROM Contact")


def test_reserved_word_is_not_a_field() -> None:
    """A reserved word cannot stand where a field name is expected."""
    assert "'FROM' at column 8" in malformed("SELECT FROM Contact")


def test_missing_from_is_rejected() -> None:
    """A query without FROM is malformed."""
    assert "end of query" in malformed("SELECT Id, Name")


def test_trailing_garbage_reports_its_column() -> None:
    """Tokens after a complete query are rejected with their column."""
    message = malformed("SELECT Id FROM Contact WHERE Name = 'x' garbage")
    assert message == "unexpected token 'garbage' at column 41"


def test_multiline_query_reports_row_and_column() -> None:
    """Errors in a multi-line query name the row and column."""
    assert "row 3, column 7" in malformed("SELECT Id\nFROM Contact\nWHERE ; ")


def test_unexpected_character_is_rejected() -> None:
    """A character outside the SOQL alphabet is rejected."""
    assert "unexpected character ';'" in malformed("SELECT Id FROM Contact;")


def test_unsupported_clause_names_itself() -> None:
    """GROUP BY is reported as unsupported rather than silently ignored."""
    assert "GROUP is not supported" in malformed("SELECT Id FROM Contact GROUP BY Id")


def test_query_must_be_a_string() -> None:
    """A non-string query is malformed, not a crash."""
    with pytest.raises(MalformedQuery):
        parse(b"SELECT Id FROM Contact")  # type: ignore[arg-type]


# -- parsing: conditions --------------------------------------------------------------------


def test_mixing_and_or_without_parentheses_is_rejected() -> None:
    """AND and OR at the same level need parentheses, as in Salesforce."""
    message = malformed("SELECT Id FROM Contact WHERE A = 1 AND B = 2 OR C = 3")
    assert message.startswith("unexpected token 'OR' at column 46")


def test_mixing_and_or_with_parentheses_is_accepted() -> None:
    """Parentheses make AND/OR mixes valid."""
    tree = where("A = 1 AND (B = 2 OR C = 3)")
    assert isinstance(tree, And) and isinstance(tree.operands[1], Or)


def test_chained_and_is_flat() -> None:
    """A run of ANDs becomes one And node."""
    tree = where("A = 1 AND B = 2 AND C = 3")
    assert isinstance(tree, And) and len(tree.operands) == 3


def test_not_binds_to_the_next_condition() -> None:
    """NOT applies to the condition right after it."""
    tree = where("NOT A = 1 AND B = 2")
    assert isinstance(tree, And) and isinstance(tree.operands[0], Not)


def test_unbalanced_parentheses_are_rejected() -> None:
    """A missing closing parenthesis is malformed."""
    assert "expected ')'" in malformed("SELECT Id FROM Contact WHERE (A = 1 AND B = 2")


def test_deep_nesting_is_rejected_cleanly() -> None:
    """Absurd nesting is a MalformedQuery, not a RecursionError."""
    assert "nested too deeply" in malformed("SELECT Id FROM Contact WHERE " + "(" * 5000)


def test_angle_brackets_mean_not_equal() -> None:
    """``<>`` is stored as ``!=``."""
    tree = where("Name <> 'x'")
    assert isinstance(tree, Comparison) and tree.op == "!="


@pytest.mark.parametrize(
    ("written", "value"),
    [
        (r"'it\'s'", "it's"),
        (r"'say \"hi\"'", 'say "hi"'),
        (r"'back\\slash'", "back\\slash"),
        (r"'a\nb\rc\td'", "a\nb\rc\td"),
        (r"'\b\f'", "\b\f"),
        (r"'\N\R\T'", "\n\r\t"),
        (r"'100\% \_'", "100% _"),
        ("''", ""),
    ],
)
def test_string_escapes(written: str, value: str) -> None:
    """Salesforce's backslash escapes decode to the intended characters."""
    tree = where(f"Name = {written}")
    assert isinstance(tree, Comparison) and tree.value.value == value


def test_unknown_escape_is_rejected() -> None:
    """A backslash before any other character is malformed."""
    assert "invalid escape" in malformed(r"SELECT Id FROM Contact WHERE Name = 'a\x'")


def test_unterminated_string_is_rejected() -> None:
    """An unbalanced quote is malformed."""
    assert "unterminated string" in malformed("SELECT Id FROM Contact WHERE Name = 'abc")


def test_escaped_injection_stays_one_literal() -> None:
    """A properly escaped quote-OR payload is one string literal."""
    tree = where(r"Name = '\' OR Name != \''")
    assert isinstance(tree, Comparison)
    assert tree.value.value == "' OR Name != '"


def test_unescaped_injection_is_plain_or() -> None:
    """An unescaped payload is ordinary (valid) OR logic."""
    assert isinstance(where("Name = '' OR Name != ''"), Or)


@pytest.mark.parametrize(("text", "value"), [("42", 42), ("-7", -7), ("3.25", 3.25), (".5", 0.5)])
def test_number_literals(text: str, value: float) -> None:
    """Integers, decimals and negatives are number literals."""
    tree = where(f"Amount = {text}")
    assert isinstance(tree, Comparison) and tree.value.value == value


def test_date_literal() -> None:
    """An unquoted YYYY-MM-DD is a date literal."""
    tree = where("Birthdate = 2026-11-25")
    assert isinstance(tree, Comparison) and tree.value.value == dt.date(2026, 11, 25)


def test_impossible_date_is_rejected() -> None:
    """A date that does not exist is malformed."""
    assert "invalid date" in malformed("SELECT Id FROM Contact WHERE Birthdate = 2026-02-30")


@pytest.mark.parametrize(
    "text", ["2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000+0000", "2026-11-25T11:00:00+01:00"]
)
def test_datetime_literal_forms(text: str) -> None:
    """Z, +0000 with millis and +hh:mm offsets all denote the same instant."""
    tree = where(f"SystemModstamp = {text}")
    assert isinstance(tree, Comparison)
    assert tree.value.value == dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)


def test_datetime_without_zone_is_rejected() -> None:
    """Salesforce datetime literals need a zone designator."""
    assert "'T10'" in malformed("SELECT Id FROM Contact WHERE CreatedDate > 2026-11-25T10:00:00")


def test_date_keywords() -> None:
    """TODAY and LAST_N_DAYS:n parse as date keywords."""
    tree = where("CreatedDate = TODAY OR CreatedDate = LAST_N_DAYS:7")
    assert isinstance(tree, Or)
    assert [c.value.kind for c in tree.operands] == [LitKind.DATE_KEYWORD] * 2  # type: ignore[union-attr]


def test_n_days_keyword_needs_a_count() -> None:
    """LAST_N_DAYS without :n is malformed."""
    assert "expected ':'" in malformed("SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS")


def test_ordering_against_null_is_rejected() -> None:
    """``< null`` makes no sense and is rejected."""
    assert "cannot compare with null" in malformed("SELECT Id FROM Contact WHERE Name < null")


def test_empty_in_list_is_rejected() -> None:
    """IN () needs at least one value."""
    malformed("SELECT Id FROM Contact WHERE Id IN ()")


def test_not_like_operator_does_not_exist() -> None:
    """SOQL has no ``NOT LIKE``; it must be written ``NOT x LIKE``."""
    malformed("SELECT Id FROM Contact WHERE Name NOT LIKE 'a%'")


def test_like_needs_a_string() -> None:
    """LIKE takes a quoted pattern."""
    assert "quoted string" in malformed("SELECT Id FROM Contact WHERE Name LIKE 5")


def test_field_to_field_comparison_is_rejected() -> None:
    """SOQL compares fields with literals only."""
    malformed("SELECT Id FROM Contact WHERE Name = LastName")


def test_in_and_not_in_parse() -> None:
    """IN and NOT IN build InList nodes, NOT IN negated."""
    tree = where("Id IN ('a', 'b') AND Id NOT IN ('c')")
    assert isinstance(tree, And)
    first, second = tree.operands
    assert isinstance(first, InList) and isinstance(second, InList)
    assert [lit.value for lit in first.values] == ["a", "b"] and not first.negated
    assert [lit.value for lit in second.values] == ["c"] and second.negated
