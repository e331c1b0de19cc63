"""Unit tests of the SOQL evaluator: matching, sorting, field validation and ``run``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from emulators.salesforce import soql
from emulators.salesforce.soql import InvalidField, OrderItem, parse

NOW = dt.datetime(2026, 11, 25, 15, 30, tzinfo=dt.UTC)
CONTACT_FIELDS = ["Id", "Email", "LastName", "AccountId", "SystemModstamp", "IsDeleted"]


def hit(condition: str, record: dict[str, Any]) -> bool:
    """Whether ``record`` matches ``condition`` at the fixed NOW."""
    tree = parse(f"SELECT Id FROM Contact WHERE {condition}").where
    return soql.matches(tree, record, now=NOW)


def ids(rows: list[Any]) -> list[Any]:
    """The Id of each row, in order."""
    return [row["Id"] for row in rows]


# -- matching -------------------------------------------------------------------------------


def test_no_where_matches_everything() -> None:
    """A query without WHERE matches any record."""
    assert soql.matches(None, {})


def test_string_equality_ignores_case() -> None:
    """= on text is case-insensitive, as in Salesforce."""
    assert hit("Email = 'ANN@Example.com'", {"Email": "ann@example.COM"})


def test_string_inequality_ignores_case() -> None:
    """!= on text is case-insensitive too."""
    assert not hit("Email != 'ANN@EXAMPLE.COM'", {"Email": "ann@example.com"})


def test_field_names_ignore_case() -> None:
    """Field references match record keys case-insensitively."""
    assert hit("email = 'a@b.c'", {"Email": "a@b.c"})


def test_missing_field_reads_as_null() -> None:
    """A field absent from the record behaves like null."""
    assert hit("Phone = null", {"Id": "1"})


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("Email = null", True),
        ("Email != null", False),
        ("Email = 'x'", False),
        ("Email != 'x'", True),
        ("Email < 'x'", False),
        ("Email > 'x'", False),
        ("Email LIKE '%'", False),
        ("Email IN ('x')", False),
        ("Email NOT IN ('x')", True),
    ],
)
def test_null_field_semantics(condition: str, expected: bool) -> None:
    """Against a null field only ``= null``, ``!= x`` and NOT IN hold."""
    assert hit(condition, {"Email": None}) is expected


def test_not_null_on_a_set_field() -> None:
    """``!= null`` holds for a set field."""
    assert hit("Email != null", {"Email": ""})


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("Amount > 10", True),
        ("Amount >= 10.5", True),
        ("Amount < -1", False),
        ("Amount = 10.5", True),
    ],
)
def test_number_comparisons(condition: str, expected: bool) -> None:
    """Numbers compare numerically, int and decimal alike."""
    assert hit(condition, {"Amount": 10.5}) is expected


def test_number_literal_does_not_match_text() -> None:
    """A number literal never equals a text value."""
    assert not hit("Amount = 5", {"Amount": "5"})


def test_boolean_comparison() -> None:
    """Booleans compare with true/false."""
    assert hit(
        "IsDeleted = false AND HasOptedOutOfEmail = true",
        {
            "IsDeleted": False,
            "HasOptedOutOfEmail": True,
        },
    )


def test_boolean_literal_does_not_match_number() -> None:
    """true is not the number 1."""
    assert not hit("IsDeleted = true", {"IsDeleted": 1})


def test_datetimes_compare_as_instants() -> None:
    """A +0200 stamp is compared as the instant it denotes, not as text."""
    record = {"SystemModstamp": "2026-11-25T11:30:00.000+0200"}
    assert hit("SystemModstamp < 2026-11-25T10:00:00Z", record)
    assert hit("SystemModstamp = 2026-11-25T09:30:00.000+0000", record)


def test_impossible_datetime_value_does_not_compare() -> None:
    """A stored value shaped like a datetime but out of range is just incomparable."""
    assert not hit(
        "SystemModstamp > 2026-11-25T10:00:00Z", {"SystemModstamp": "2026-13-45T99:00:00Z"}
    )


def test_datetime_literal_against_non_datetime_value() -> None:
    """A value that is not a datetime never compares, except with !=."""
    assert not hit("SystemModstamp > 2026-11-25T10:00:00Z", {"SystemModstamp": "soon"})
    assert hit("SystemModstamp != 2026-11-25T10:00:00Z", {"SystemModstamp": "soon"})


def test_date_literal_against_date_field() -> None:
    """Date fields compare with date literals as dates."""
    assert hit("Birthdate < 2000-01-01", {"Birthdate": "1999-12-31"})
    assert hit("Birthdate = 1999-12-31", {"Birthdate": "1999-12-31"})


def test_date_literal_covers_a_datetimes_whole_day() -> None:
    """A date literal against a datetime means that UTC day."""
    assert hit("CreatedDate = 2026-11-25", {"CreatedDate": "2026-11-25T23:59:59.000+0000"})
    assert hit("CreatedDate = 2026-11-25", {"CreatedDate": "2026-11-26T00:30:00.000+0100"})
    assert not hit("CreatedDate = 2026-11-25", {"CreatedDate": "2026-11-25T23:30:00.000-0100"})


@pytest.mark.parametrize(
    ("condition", "stamp", "expected"),
    [
        ("CreatedDate = TODAY", "2026-11-25T00:00:00.000+0000", True),
        ("CreatedDate > TODAY", "2026-11-25T23:00:00.000+0000", False),
        ("CreatedDate > TODAY", "2026-11-26T00:00:00.000+0000", True),
        ("CreatedDate < TODAY", "2026-11-24T23:59:59.000+0000", True),
        ("CreatedDate = YESTERDAY", "2026-11-24T12:00:00.000+0000", True),
        ("CreatedDate = TOMORROW", "2026-11-26T12:00:00.000+0000", True),
        ("CreatedDate = LAST_N_DAYS:1", "2026-11-24T00:00:00.000+0000", True),
        ("CreatedDate = LAST_N_DAYS:1", "2026-11-23T23:59:59.000+0000", False),
        ("CreatedDate = NEXT_N_DAYS:2", "2026-11-25T23:00:00.000+0000", False),
        ("CreatedDate = NEXT_N_DAYS:2", "2026-11-27T23:00:00.000+0000", True),
        ("CloseDate >= TODAY", "2026-11-25", True),
    ],
)
def test_date_keywords(condition: str, stamp: str, expected: bool) -> None:
    """Date keywords are UTC day ranges anchored at ``now``."""
    assert hit(condition, {"CreatedDate": stamp, "CloseDate": stamp}) is expected


def test_in_list() -> None:
    """IN matches any listed value, case-insensitively for text."""
    assert hit("Id IN ('001A', '001b')", {"Id": "001B"})
    assert not hit("Id IN ('001A', '001b')", {"Id": "001C"})


def test_not_in_list() -> None:
    """NOT IN excludes listed values."""
    assert not hit("Id NOT IN ('001A', '001B')", {"Id": "001a"})


def test_in_list_with_null() -> None:
    """null in an IN list matches null fields."""
    assert hit("Email IN (null, 'x')", {"Email": None})


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("'%@example.com'", True),
        ("'ANN%'", True),
        ("'a_n@%'", True),
        ("'a_@%'", False),
        ("'ann'", False),
        (r"'ann\%'", False),
        ("'ann.example.com'", False),
    ],
)
def test_like_wildcards(pattern: str, expected: bool) -> None:
    """LIKE: % any run, _ one character, case-insensitive, whole value."""
    assert hit(f"Email LIKE {pattern}", {"Email": "ann@example.com"}) is expected


def test_like_escaped_wildcards_are_literal() -> None:
    r"""``\%`` and ``\_`` in a LIKE pattern match only themselves."""
    assert hit(r"Code LIKE '100\%\_x'", {"Code": "100%_X"})
    assert not hit(r"Code LIKE '100\%\_x'", {"Code": "100abx"})


def test_like_on_non_text_is_false() -> None:
    """LIKE never matches a number."""
    assert not hit("Amount LIKE '%'", {"Amount": 5})


def test_not_negates() -> None:
    """NOT inverts its condition."""
    assert hit("NOT (Email = 'a' OR Email = 'b')", {"Email": "c"})


def test_relationship_path() -> None:
    """A dotted path reads nested relationship records."""
    assert hit("Account.Name = 'acme'", {"Account": {"Name": "ACME"}})
    assert not hit("Account.Name = 'acme'", {"Account": None})


# -- sorting --------------------------------------------------------------------------------

ROWS: list[dict[str, Any]] = [
    {"Id": "1", "LastName": "beta", "N": 2},
    {"Id": "2", "LastName": None, "N": 1},
    {"Id": "3", "LastName": "Alpha", "N": 2},
    {"Id": "4", "LastName": "alpha", "N": None},
]


def test_sort_ascending_nulls_first() -> None:
    """Ascending puts nulls first and ignores case (ties keep input order)."""
    rows = soql.sort_records(ROWS, [OrderItem("LastName")])
    assert ids(rows) == ["2", "3", "4", "1"]


def test_sort_descending_nulls_first_by_default() -> None:
    """Descending still puts nulls first unless NULLS LAST."""
    rows = soql.sort_records(ROWS, [OrderItem("LastName", descending=True)])
    assert ids(rows) == ["2", "1", "3", "4"]


def test_sort_descending_nulls_last() -> None:
    """NULLS LAST moves nulls to the end."""
    rows = soql.sort_records(ROWS, [OrderItem("lastname", descending=True, nulls_last=True)])
    assert ids(rows) == ["1", "3", "4", "2"]


def test_sort_by_several_keys() -> None:
    """Later keys break ties of earlier ones."""
    rows = soql.sort_records(ROWS, [OrderItem("N", nulls_last=True), OrderItem("Id", True)])
    assert ids(rows) == ["2", "3", "1", "4"]


def test_sort_datetimes_by_instant() -> None:
    """Datetime strings with different offsets sort by the instant."""
    rows = [
        {"Id": "a", "T": "2026-11-25T10:00:00.000+0000"},
        {"Id": "b", "T": "2026-11-25T11:00:00.000+0200"},
    ]
    assert ids(soql.sort_records(rows, [OrderItem("T")])) == ["b", "a"]


# -- validation -----------------------------------------------------------------------------


def test_unknown_select_field() -> None:
    """An unknown SELECT field raises INVALID_FIELD with Salesforce's wording."""
    with pytest.raises(InvalidField) as info:
        soql.validate_fields(parse("SELECT Id, Foo__c FROM Contact"), CONTACT_FIELDS)
    assert info.value.message.startswith("No such column 'Foo__c' on entity 'Contact'.")


@pytest.mark.parametrize(
    "text",
    ["SELECT Id FROM Contact WHERE NOT (Bar = 1)", "SELECT Id FROM Contact ORDER BY Bar"],
)
def test_unknown_where_or_order_field(text: str) -> None:
    """Fields in WHERE and ORDER BY are validated too."""
    with pytest.raises(InvalidField, match="'Bar'"):
        soql.validate_fields(parse(text), CONTACT_FIELDS)


def test_known_fields_any_case() -> None:
    """Validation ignores case; COUNT() needs no fields."""
    soql.validate_fields(parse("SELECT ID, email FROM Contact ORDER BY lastname"), CONTACT_FIELDS)
    soql.validate_fields(parse("SELECT COUNT() FROM Contact"), CONTACT_FIELDS)


def test_relationship_paths_validate_against_lookups() -> None:
    """Account.Name passes through AccountId; an unknown relationship fails."""
    soql.validate_fields(parse("SELECT Account.Name FROM Contact"), CONTACT_FIELDS)
    with pytest.raises(InvalidField, match="relationship 'Owner'"):
        soql.validate_fields(parse("SELECT Owner.Name FROM Contact"), CONTACT_FIELDS)


# -- run ------------------------------------------------------------------------------------

RECORDS: list[dict[str, Any]] = [
    {"Id": "003A", "Email": "a@x.com", "SystemModstamp": "2026-11-25T10:00:00.000+0000"},
    {"Id": "003B", "Email": "b@y.com", "SystemModstamp": "2026-11-25T09:00:00.000+0000"},
    {"Id": "003C", "Email": "c@x.com", "SystemModstamp": "2026-11-25T08:00:00.000+0000"},
    {"Id": "003D", "Email": "d@x.com", "SystemModstamp": "2026-11-25T07:00:00.000+0000"},
]


def test_run_projects_in_record_case() -> None:
    """Projected keys use the record's spelling, not the query's."""
    query = parse("SELECT id, EMAIL FROM Contact WHERE Id = '003a'")
    assert soql.run(query, RECORDS) == [{"Id": "003A", "Email": "a@x.com"}]


def test_run_sorts_then_pages() -> None:
    """OFFSET and LIMIT apply after filtering and sorting."""
    query = parse(
        "SELECT Id FROM Contact WHERE Email LIKE '%@x.com' ORDER BY SystemModstamp LIMIT 1 OFFSET 1"
    )
    assert soql.run(query, RECORDS) == [{"Id": "003C"}]


def test_run_projects_missing_field_as_null() -> None:
    """A selected field the record lacks comes back as null."""
    assert soql.run(parse("SELECT Id, Phone FROM Contact LIMIT 1"), RECORDS) == [
        {"Id": "003A", "Phone": None}
    ]


def test_run_projects_relationship_nested() -> None:
    """A relationship path is returned as a nested object."""
    records: list[dict[str, Any]] = [
        {"Id": "1", "Account": {"Name": "Acme", "Id": "001"}},
        {"Id": "2", "Account": None},
    ]
    query = parse("SELECT Id, Account.Name FROM Contact ORDER BY Id")
    assert soql.run(query, records) == [
        {"Id": "1", "Account": {"Name": "Acme"}},
        {"Id": "2", "Account": None},
    ]


def test_run_count() -> None:
    """COUNT() yields one empty row per match; count() gives the number."""
    query = parse("SELECT COUNT() FROM Contact WHERE Email LIKE '%@x.com'")
    assert soql.run(query, RECORDS) == [{}, {}, {}]
    assert soql.count(query, RECORDS) == 3


def test_run_anchors_date_keywords_at_now() -> None:
    """``now`` decides what TODAY means."""
    query = parse("SELECT Id FROM Contact WHERE SystemModstamp = YESTERDAY")
    assert soql.run(query, RECORDS, now=NOW) == []
    assert len(soql.run(query, RECORDS, now=NOW + dt.timedelta(days=1))) == 4
