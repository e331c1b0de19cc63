"""InsightsSettings defaults and validation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from insights import DEFAULT_SETTINGS, InsightsSettings, LeadTiers


def test_defaults_are_the_playbook() -> None:
    """Defaults: EUR, VIP 1000, at-risk 90, churned 180, new 90, quintiles."""
    s = DEFAULT_SETTINGS
    assert (s.reporting_currency, s.vip_threshold, s.at_risk_days, s.churned_days) == (
        "EUR",
        Decimal(1000),
        90,
        180,
    )
    assert (s.new_days, s.monetary_percentiles, s.recency_days) == (
        90,
        (20, 40, 60, 80),
        (7, 30, 60, 90),
    )


def test_settings_are_frozen() -> None:
    """Resolved settings cannot be mutated."""
    with pytest.raises(ValidationError):
        DEFAULT_SETTINGS.vip_threshold = Decimal(1)  # type: ignore[misc]


def test_reporting_currency_rate_is_one() -> None:
    """The reporting currency converts at 1 without a table entry."""
    assert DEFAULT_SETTINGS.rate("EUR") == 1
    assert DEFAULT_SETTINGS.rate("USD") is None


@pytest.mark.parametrize(
    "bad",
    [
        {"reporting_currency": "euro"},
        {"rates": {"usd": "0.9"}},
        {"rates": {"USD": "0"}},
        {"rates": {"EUR": "2"}},
        {"recency_days": (7, 7, 60, 90)},
        {"frequency_orders": (1, 3, 5, 10)},
        {"monetary_percentiles": (20, 40, 80, 60)},
        {"at_risk_days": 200},
        {"vip_threshold": "0"},
        {"unknown_option": 1},
        {"growth_segments": ["Rich"]},
    ],
)
def test_invalid_settings_are_refused(bad: dict[str, object]) -> None:
    """Inconsistent or unknown options fail validation."""
    with pytest.raises(ValidationError):
        InsightsSettings.model_validate(bad)


def test_lead_tiers_must_be_ordered() -> None:
    """Cold < warm < hot."""
    with pytest.raises(ValidationError):
        LeadTiers(hot=50, warm=60)


def test_settings_load_from_yaml_like_dict() -> None:
    """Plain YAML values (strings, lists) validate into typed settings."""
    s = InsightsSettings.model_validate(
        {"rates": {"USD": "0.92"}, "recency_days": [3, 14, 30, 60], "growth_segments": ["Loyal"]}
    )
    assert (s.rate("USD"), s.recency_days[0], len(s.growth_segments)) == (Decimal("0.92"), 3, 1)
