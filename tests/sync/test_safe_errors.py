"""Vendor refusals quoting values: the code and reason stay, the value reads [value]."""

from __future__ import annotations

import pytest

from sync.safe_errors import safe_dead_letter_message


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Last Name: data value too large: Ünal Özdemir-Lüdenscheidt (max length=8)",
            "Last Name: data value too large: [value] (max length=8)",
        ),
        (
            "Mailing Country: bad value for restricted picklist field: Türkiye",
            "Mailing Country: bad value for restricted picklist field: [value]",
        ),
        (
            '[{"message":"Ünal Özdemir was not a valid value for firstname","name":"firstname"}]',
            '[{"message":"[value] was not a valid value for firstname","name":"firstname"}]',
        ),
        ("Contact already exists. Existing ID: 1234", "Contact already exists. Existing ID: 1234"),
    ],
)
def test_quoted_values_are_redacted(message: str, expected: str) -> None:
    """The known Salesforce and HubSpot shapes lose the value and keep everything else."""
    assert safe_dead_letter_message(message) == expected


def test_the_records_own_values_are_redacted_anywhere() -> None:
    """A value of the record's own fields (nested too) is masked wherever the vendor put it."""
    record = {"lastName": "Özdemir", "billingAddress": {"street1": "Hauptstraße 5"}, "n": 7}
    message = "FIELD_CUSTOM_VALIDATION_EXCEPTION: özdemir lives at Hauptstraße 5"
    out = safe_dead_letter_message(message, record)
    assert out == "FIELD_CUSTOM_VALIDATION_EXCEPTION: [value] lives at [value]"
