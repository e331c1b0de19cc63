"""Every threshold of the retention playbook, as one frozen pydantic model.

The defaults are the product owner's retention playbook; the YAML may override any of them.
Day counts compare exact ages (``now - date``), never calendar days: "more than 90 days" is
``age > timedelta(days=90)``.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mapping.config._segments import Segment

__all__ = ["DEFAULT_SETTINGS", "ChurnRiskSignals", "InsightsSettings", "LeadPoints", "LeadTiers"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")

PositiveInt = Annotated[int, Field(gt=0)]
Percent = Annotated[int, Field(gt=0, lt=100)]


def _increasing(values: tuple[int, ...], name: str) -> None:
    if any(a >= b for a, b in itertools.pairwise(values)):
        raise ValueError(f"{name} must be strictly increasing, got {list(values)}")


class LeadPoints(BaseModel):
    """The lead-score points table of the retention playbook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_title_fit: int = 20
    company_size_fit: int = 15
    industry_fit: int = 15
    email_open: int = 5
    email_click: int = 10
    content_download: int = 15
    demo_request: int = 50
    pricing_page_visit: int = 30
    unsubscribe: int = -50
    no_activity: int = -20
    #: support and satisfaction (not in the playbook's table: 0, off, unless configured)
    nps_promoter: int = 0
    """the customer's last NPS answer is 9-10"""
    nps_detractor: int = 0
    """the customer's last NPS answer is 0-6"""
    open_ticket: int = 0
    """per open support ticket (HubSpot ticket, Salesforce Case)"""


class LeadTiers(BaseModel):
    """Lowest score of each lead tier; below ``cold`` is Inactive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hot: int = 80
    warm: int = 50
    cold: int = 20

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.cold < self.warm < self.hot:
            raise ValueError("lead tiers must satisfy cold < warm < hot")
        return self


class ChurnRiskSignals(BaseModel):
    """Support signals that put a (not churned) buyer in Churn-Risk, besides declining
    activity; None switches a condition off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nps_below: int | None = Field(default=7, ge=1, le=11)
    """the last NPS answer is below this (7: detractors, 0-6)"""
    open_tickets_at_least: PositiveInt | None = 3
    """this many open support tickets or more"""


class InsightsSettings(BaseModel):
    """Thresholds for metrics, RFM, lifecycle, segments, VIP and lead scores."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reporting_currency: str = "EUR"
    rates: dict[str, Decimal] = Field(default_factory=dict)
    """``{currency: rate}``: one unit of ``currency`` is ``rate`` units of the reporting one."""
    trailing_months: PositiveInt = 12

    recency_days: tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt] = (7, 30, 60, 90)
    """R5 if age < 1st; R4 if age <= 2nd; R3 if <= 3rd; R2 if <= 4th; R1 if age > 4th."""
    frequency_orders: tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt] = (2, 3, 5, 10)
    """Fewest orders for F2, F3, F4 and F5; one order is F1."""
    monetary_percentiles: tuple[Percent, Percent, Percent, Percent] = (20, 40, 60, 80)
    """Population percentiles that separate M1|M2|M3|M4|M5 (quintiles by default)."""

    vip_threshold: Decimal = Decimal(1000)
    """Trailing-12-month spend (reporting currency) at or above which a customer is VIP."""
    at_risk_days: PositiveInt = 90
    churned_days: PositiveInt = 180
    new_days: PositiveInt = 90
    high_value_percent: Percent = 20
    """High-Value = the top ``high_value_percent`` % of customers by lifetime value."""
    growth_segments: frozenset[Segment] = frozenset(
        {Segment.POTENTIAL_LOYALISTS, Segment.PROMISING}
    )
    """RFM segments that make a (not High-Value) customer Growth Potential."""
    churn_risk_segments: frozenset[Segment] = frozenset({Segment.AT_RISK, Segment.ABOUT_TO_SLEEP})
    """RFM segments that signal declining activity (Churn-Risk), besides the At-Risk stage."""

    lead_points: LeadPoints = LeadPoints()
    lead_tiers: LeadTiers = LeadTiers()
    lead_activity_days: PositiveInt = 30

    support_days: PositiveInt = 90
    """Tickets opened within this many days are the customer's recent ticket load."""
    churn_risk_signals: ChurnRiskSignals = ChurnRiskSignals()

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not _CURRENCY.match(value):
            raise ValueError(f"'{value}' is not an ISO 4217 code (three capital letters)")
        return value

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for code, rate in value.items():
            if not _CURRENCY.match(code):
                raise ValueError(f"rate key '{code}' is not an ISO 4217 code")
            if not rate.is_finite() or rate <= 0:
                raise ValueError(f"rate for '{code}' must be a positive number")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _increasing(self.recency_days, "recency_days")
        _increasing(self.frequency_orders, "frequency_orders")
        _increasing(self.monetary_percentiles, "monetary_percentiles")
        if self.frequency_orders[0] < 2:
            raise ValueError("frequency_orders must start at 2 or more (one order is F1)")
        if self.churned_days <= self.at_risk_days:
            raise ValueError("churned_days must be greater than at_risk_days")
        if self.vip_threshold <= 0:
            raise ValueError("vip_threshold must be positive")
        if self.rates.get(self.reporting_currency, Decimal(1)) != 1:
            raise ValueError("the reporting currency's own rate must be 1")
        return self

    def rate(self, currency: str) -> Decimal | None:
        """The conversion rate of ``currency`` to the reporting currency, or None if unknown."""
        if currency == self.reporting_currency:
            return Decimal(1)
        return self.rates.get(currency)


DEFAULT_SETTINGS = InsightsSettings()
