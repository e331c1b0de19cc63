"""The ``insights:`` section: retention thresholds, loyalty tiers, report targets, rules.

Thresholds are :class:`InsightsSettings` (``_thresholds``) (every field of it may be set here,
flat); this module adds what only the wired product needs: the on/off switch, loyalty tiers,
the monthly report's targets and the workflow rules.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mapping.config._spend import normalise_channel, read_spend_csv
from mapping.config._thresholds import InsightsSettings

__all__ = [
    "INSIGHTS_PREFIX",
    "INSIGHT_FIELDS",
    "InsightsConfig",
    "LoyaltyTiers",
    "MarketingSpend",
    "ReportTargets",
    "RuleAction",
    "SpendRow",
    "Transition",
    "WorkflowRule",
]


#: source fields b2sync computes itself: ``insights.<name>`` in a pipeline's ``b2connect``
INSIGHTS_PREFIX = "insights."
#: the names ``insights.compute.insight_fields`` fills (a test keeps the two in step)
INSIGHT_FIELDS: tuple[str, ...] = (
    "currency",
    "ltv",
    "order_count",
    "aov",
    "first_order_at",
    "last_order_at",
    "trailing_12m_spend",
    "repeat_purchaser",
    "rfm_recency",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_code",
    "rfm_segment",
    "lifecycle_stage",
    "vip",
    "segments",
    "acquisition_channel",
    "cac",
    "net_ltv",
    "ltv_cac_ratio",
    "open_tickets",
    "recent_tickets",
    "nps_score",
    "nps_category",
    "lead_score",
    "lead_tier",
    "loyalty_tier",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Transition(StrEnum):
    """Customer transitions a workflow rule can react to."""

    new_customer = "new_customer"
    became_vip = "became_vip"
    at_risk = "at_risk"
    churned = "churned"


class RuleAction(_Frozen):
    """One action of a rule, run on every customers pipeline where the customer is linked.

    ``add_to_list``: HubSpot list membership / Salesforce CampaignMember; ``targets`` maps a
    CRM connection name to the list id (HubSpot) or Campaign id (Salesforce); connections
    without an entry are skipped. ``create_task``: a HubSpot task associated with the contact /
    a Salesforce Task on the contact (``subject``, ``priority``, ``due_days``). ``archive``:
    archive the CRM contact (HubSpot archive, Salesforce delete to the recycle bin).
    """

    type: Literal["add_to_list", "create_task", "archive"]
    targets: dict[str, str] = Field(default_factory=dict)
    subject: str | None = Field(default=None, max_length=255)
    body: str | None = Field(default=None, max_length=2000)
    priority: Literal["low", "medium", "high"] = "medium"
    due_days: int = Field(default=3, ge=0, le=365)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.type == "add_to_list" and not self.targets:
            raise ValueError("add_to_list needs 'targets' ({connection name: list/campaign id})")
        if self.type == "create_task" and not self.subject:
            raise ValueError("create_task needs a 'subject'")
        return self


class WorkflowRule(_Frozen):
    """Fires its actions once per customer transition (idempotent, audited)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    when: Transition
    actions: list[RuleAction] = Field(min_length=1)
    enabled: bool = True


class LoyaltyTiers(_Frozen):
    """Lowest lifetime value (reporting currency) of each loyalty tier; below Silver is Bronze."""

    silver: Decimal = Decimal(250)
    gold: Decimal = Decimal(1000)
    platinum: Decimal = Decimal(5000)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not Decimal(0) < self.silver < self.gold < self.platinum:
            raise ValueError("loyalty tiers must satisfy 0 < silver < gold < platinum")
        return self


Ratio = Annotated[float, Field(ge=0, le=1)]


class ReportTargets(_Frozen):
    """Targets the monthly report compares against (ratios 0..1, money in reporting currency)."""

    retention_rate: Ratio = 0.40
    churn_rate: Ratio = 0.10
    repeat_purchase_rate: Ratio = 0.30
    average_ltv: Decimal = Decimal(250)
    nps: int = Field(default=40, ge=-100, le=100)
    ltv_cac_ratio: Decimal = Field(
        default=Decimal(3), gt=0, description="LTV:CAC ratio to reach (the playbook's 3:1)"
    )


class SpendRow(_Frozen):
    """Marketing spend of one month and channel (reporting currency)."""

    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    channel: str = Field(min_length=1, max_length=100)
    amount: Decimal = Field(ge=0)


class MarketingSpend(_Frozen):
    """Where the marketing spend per month and channel comes from (CAC = spend / new
    customers of that month and channel): a CSV file, rows in the YAML, or both (added up).

    The CSV has a header ``month,channel,amount`` (``YYYY-MM``, a channel name matching
    B2Connect's order ``source``, an amount in the reporting currency); a relative path is
    relative to the working directory, like ``state_url``.
    """

    csv: str | None = Field(default=None, description="Path of a month,channel,amount CSV")
    rows: list[SpendRow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.csv is None and not self.rows:
            raise ValueError("marketing_spend needs 'csv' (a file path) or 'rows'")
        if self.csv is not None:
            read_spend_csv(self.csv)  # a bad row: SpendFileError (a ValueError) with file:line
        return self

    def load(self) -> dict[tuple[str, str], Decimal]:
        """Spend per (``YYYY-MM``, channel): the CSV's rows plus the YAML's, added up.

        Raises:
            SpendFileError: the CSV cannot be read or a row is malformed (file:line).
        """
        out = read_spend_csv(self.csv) if self.csv else {}
        for row in self.rows:
            cell = (row.month, normalise_channel(row.channel) or row.channel)
            out[cell] = out.get(cell, Decimal(0)) + row.amount
        return out


class InsightsConfig(InsightsSettings):
    """``insights:``: every :class:`InsightsSettings` threshold plus the wiring options."""

    enabled: bool = Field(
        default=True,
        description="Keep the order ledger and add insights.* fields to customer records",
    )
    population_drift_percent: int = Field(
        default=5,
        gt=0,
        le=100,
        description="Recompute the population's monetary quintiles when more than this share "
        "of customers changed since they were last computed",
    )
    engagement_every_minutes: int = Field(
        default=60,
        ge=0,
        description="Read email engagement (opens, clicks) back from the CRM at most this "
        "often, in minutes (0: on every refresh pass; a full pass always reads it)",
    )
    support_every_minutes: int = Field(
        default=60,
        ge=0,
        description="Read support tickets/cases and NPS answers back from the CRM at most "
        "this often, in minutes (0: on every refresh pass; a full pass always reads them)",
    )
    loyalty: LoyaltyTiers = Field(default_factory=LoyaltyTiers)
    targets: ReportTargets = Field(default_factory=ReportTargets)
    marketing_spend: MarketingSpend | None = Field(
        default=None,
        description="Marketing spend per month and channel, for CAC, net LTV and LTV:CAC",
    )
    rules: list[WorkflowRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_rules(self) -> Self:
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("insights rule names must be unique")
        return self
