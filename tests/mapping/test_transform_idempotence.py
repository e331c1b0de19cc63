"""Every registered transform is idempotent: ``t(t(x)) == t(x)``.

A step that is not idempotent makes b2sync rewrite the shop with its own transformations:
push writes ``t(shop)``, the pull normalises the CRM's copy to ``t(t(shop))``, sees a
difference and writes it back to B2Connect.
"""

from __future__ import annotations

import string
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import phonenumbers
import pycountry
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mapping.transforms import TransformContext, TransformError, registry

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RECORD = {"firstName": "Ada", "lastName": "Lovelace", "billingAddress": {"city": "Köln"}}
#: ``link`` turns a B2Connect key into a CRM id: its output is a different kind of value,
#: never fed to it again (the pull does not read link fields back)
NOT_IDEMPOTENT_BY_DESIGN = {"link"}

texts = st.text(max_size=30) | st.sampled_from(
    ["", "  ", "ŉ", "ǆ", "ß", "İstanbul", " Köln ", "ǰan", "ᾷ", "ΐa"]
)
digits = st.text(alphabet=string.digits, min_size=1, max_size=12)
phones = st.one_of(
    st.builds("0{} / {}".format, st.text(string.digits, min_size=3, max_size=3), digits),
    st.builds("+49 (0){} {}".format, digits, digits),
    st.builds("00{} {}".format, digits, digits),
    st.builds("{}{}".format, st.sampled_from(["+", "0", "00", "+490", ""]), digits),
    st.sampled_from(["0004 / 195113", "+49004195113", "0176-12345678", "06.12.34.56.78"]),
)
countries = st.sampled_from(
    [c.alpha_2 for c in pycountry.countries]
    + [c.alpha_3 for c in pycountry.countries]
    + [c.name for c in pycountry.countries]
    + ["germany", " de ", "Atlantis"]
)
moments = st.datetimes(
    min_value=datetime(1975, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
when = st.one_of(
    moments,
    st.dates(min_value=date(1975, 1, 1), max_value=date(2100, 1, 1)),
    moments.map(lambda m: m.isoformat()),
    moments.map(lambda m: int(m.timestamp() * 1000)),
)
numbers = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.builds("{},{}".format, digits, digits),
)
emails = st.emails() | st.sampled_from([" Ada@Example.COM ", "not an email"])
anything = st.one_of(st.none(), texts, numbers, st.booleans(), st.lists(texts, max_size=3))
STATUS = {"shipped": "Shipped", "open": "Open", "": "Unknown", "*": "Other"}

#: transform → (option, values to try): representative params for every built-in
CASES: dict[str, list[tuple[Any, st.SearchStrategy[Any]]]] = {
    "strip": [(None, anything)],
    "lower": [(None, anything)],
    "upper": [(None, anything)],
    "title": [(None, anything)],
    "email": [(None, emails)],
    "e164_phone": [(None, phones), ("DE", phones), ("FR", phones), ("CH", phones)],
    "iso_country": [(None, countries), ("alpha3", countries), ("name", countries)],
    "datetime": [(None, when), ("epoch_ms", when), ("%d.%m.%Y %H:%M", when), ("%Y-%m-%d", when)],
    "date": [(None, when), ("%d.%m.%Y", when), ("%m/%d/%Y", when)],
    "number": [(None, numbers)],
    "decimal": [(None, numbers), (0, numbers), (4, numbers)],
    "truncate": [(5, anything), (None, anything)],
    "map": [(STATUS, st.sampled_from(["shipped", "open", "", None, "lost", "Shipped", "Other"]))],
    "constant": [("EUR", anything)],
    "coalesce": [(["billingAddress.city", "firstName"], anything), ("nickname", anything)],
    "template": [("{firstName} {lastName}", anything), ("{nickname}", anything)],
}


def _apply(name: str, value: Any, option: Any) -> Any:
    ctx = TransformContext(record=RECORD, target_length=10)
    return registry()[name](value, ctx, option)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type (1 and 1.0 and Decimal('1') are different CRM texts)."""
    return type(a) is type(b) and a == b


def test_every_built_in_transform_has_cases() -> None:
    """A new built-in transform cannot skip the idempotence property."""
    built_in = {name for name in registry() if not name.startswith("custom:")}
    assert built_in - NOT_IDEMPOTENT_BY_DESIGN == set(CASES)


@pytest.mark.parametrize(
    ("name", "option", "values"),
    [(name, option, values) for name, cases in CASES.items() for option, values in cases],
    ids=[f"{name}-{i}" for name, cases in CASES.items() for i in range(len(cases))],
)
def test_transform_is_idempotent(name: str, option: Any, values: Any) -> None:
    """Applying a transform to its own output changes nothing."""

    @SETTINGS
    @given(values)
    def check(value: Any) -> None:
        try:
            once = _apply(name, value, option)
        except TransformError:
            assume(False)  # rejected values are dead-lettered, never written
            return
        assert _same(_apply(name, once, option), once), (name, option, value, once)

    check()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("0004 / 195113", "+494195113"), ("030 1234567", "+49301234567")],
)
def test_e164_phone_writes_the_number_that_reads_back(typed: str, expected: str) -> None:
    """The seed's awkward number gets the E.164 text that parses back to itself."""
    once = _apply("e164_phone", typed, None)
    assert once == expected
    reread = phonenumbers.parse(once, None)
    assert phonenumbers.format_number(reread, phonenumbers.PhoneNumberFormat.E164) == once


def test_decimal_too_large_is_a_transform_error() -> None:
    """A number beyond the decimal context is a clear error, not a crash."""
    with pytest.raises(TransformError, match="too large"):
        _apply("decimal", Decimal("1e30"), 4)
