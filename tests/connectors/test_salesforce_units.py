"""Pure helpers of the Salesforce connector: call templates, values, Bulk errors, budget."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors.errors import BudgetExhausted
from connectors.salesforce import (
    Budget,
    InvalidValue,
    csv_value,
    json_value,
    parse_bulk_error,
    parse_timestamp,
    template,
)

BASE = "https://x.my.salesforce.com/services/data/v59.0"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        (
            "PATCH",
            f"{BASE}/composite/sobjects/Contact/B2Connect_Id__c",
            "PATCH /services/data/{version}/composite/sobjects/{sobject}/{field}",
        ),
        ("GET", f"{BASE}/queryAll/", "GET /services/data/{version}/queryAll"),
        ("GET", f"{BASE}/query/01gXX-2000", "GET /services/data/{version}/query/{locator}"),
        (
            "GET",
            f"{BASE}/sobjects/Contact/describe/",
            "GET /services/data/{version}/sobjects/{sobject}/describe",
        ),
        (
            "GET",
            f"{BASE}/jobs/ingest/750X/failedResults",
            "GET /services/data/{version}/jobs/ingest/{job_id}/failedResults",
        ),
        (
            "POST",
            "https://login.salesforce.com/services/oauth2/token",
            "POST /services/oauth2/token",
        ),
    ],
)
def test_call_templates(method: str, url: str, expected: str) -> None:
    """URLs are counted under templates without versions, names or ids."""
    assert template(method, url) == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (
            "STRING_TOO_LONG:Last Name: data value too large: xx (max length=80):LastName --",
            ("STRING_TOO_LONG", "Last Name: data value too large: xx (max length=80)", "LastName"),
        ),
        (
            "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName,Email --",
            ("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", "LastName"),
        ),
        (
            "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record: --",
            ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", None),
        ),
        ("INVALID_FIELD", ("INVALID_FIELD", "INVALID_FIELD", None)),
    ],
)
def test_bulk_error_cells(cell: str, expected: tuple[str, str, str | None]) -> None:
    """sf__Error cells split into code, message and first field."""
    assert parse_bulk_error(cell) == expected


def test_json_values() -> None:
    """Payload values become JSON Salesforce accepts."""
    assert json_value("A", Decimal("19.99")) == 19.99
    assert json_value("A", Decimal("0.1000000000000000055511151231257827")) == (
        "0.1000000000000000055511151231257827"
    )
    assert json_value("D", dt.date(2026, 2, 3)) == "2026-02-03"
    assert json_value("T", dt.datetime(2026, 2, 3, 4, 5, 6, 789000)) == "2026-02-03T04:05:06.789Z"
    assert json_value("M", {"b", "a"}) == "a;b"


@pytest.mark.parametrize("value", [float("inf"), Decimal("sNaN"), {"a": 1}, object()])
def test_unsendable_values(value: object) -> None:
    """Values with no Salesforce form raise InvalidValue naming the field."""
    with pytest.raises(InvalidValue) as caught:
        json_value("Field__c", value)
    assert caught.value.field == "Field__c"


def test_csv_cells() -> None:
    """Bulk cells: nulls as #N/A, booleans lower-case, floats without exponent."""
    assert [csv_value("f", v) for v in (None, "", True, 1e-7, Decimal("2.50"))] == [
        "#N/A",
        "#N/A",
        "true",
        "0.0000001",
        "2.5",
    ]


def test_timestamps_parse_in_both_offsets() -> None:
    """Salesforce's +0000 and ISO Z forms parse to the same aware instant."""
    assert parse_timestamp("2026-11-25T10:11:12.000+0000") == parse_timestamp(
        "2026-11-25T10:11:12Z"
    )


def test_budget_below_share_allows_calls() -> None:
    """Usage under the share lets calls through."""
    budget = Budget(0.5, lambda: NOW)
    budget.observe_limit_info("api-usage=10/100")
    budget.check()
    assert not budget.exhausted


def test_budget_at_share_pauses_an_hour() -> None:
    """Usage at the share refuses calls until now + 1 h, then lets one through."""
    now = [NOW]
    budget = Budget(0.5, lambda: now[0])
    budget.observe_limit_info("api-usage=50/100; per-app-api-usage=3/250(appName=b2sync)")
    with pytest.raises(BudgetExhausted) as caught:
        budget.check()
    assert caught.value.resume_at == NOW + dt.timedelta(hours=1)
    now[0] += dt.timedelta(minutes=30)
    with pytest.raises(BudgetExhausted):
        budget.check()
    now[0] += dt.timedelta(minutes=31)
    budget.check()
