"""Tables of the retention insights: the order ledger, customer state, rule firings.

No personal values: customers appear by their B2Connect key only, orders by id, date, status,
currency and amounts (minor units, so sums are exact in SQL on every backend).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import SQLModel

from store._types import UTCDateTime, column, utc_now

KEY = 255


class InsightsOrder(SQLModel, table=True):
    """One order as the insights need it (the compact ledger)."""

    __tablename__ = "insights_orders"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "order_id"),
        sa.Index("ix_insights_orders_tenant_id_customer_key", "tenant_id", "customer_key"),
    )

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    tenant_id: str = column(sa.String(64))
    order_id: str = column(sa.String(KEY))
    customer_key: str = column(sa.String(KEY))
    created_at: datetime = column(UTCDateTime())
    status: str = column(sa.String(16))
    currency: str = column(sa.String(3))
    #: order total in minor units (cents) of ``currency``
    total_minor: int = column(sa.BigInteger())
    #: money given back (refunded returns or a refunded payment), minor units
    refunded_minor: int = column(sa.BigInteger(), default=0)
    #: the order's marketing source/channel (B2Connect ``source``), None: unattributed
    source: str | None = column(sa.String(100), nullable=True, default=None)
    updated_at: datetime = column(UTCDateTime(), default_factory=utc_now)


class InsightsCustomer(SQLModel, table=True):
    """A customer's insights state: dirty flag and the last computed snapshot (for rules)."""

    __tablename__ = "insights_customers"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "customer_key"),
        sa.Index("ix_insights_customers_tenant_id_dirty", "tenant_id", "dirty"),
    )

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    tenant_id: str = column(sa.String(64))
    customer_key: str = column(sa.String(KEY))
    #: orders changed since the snapshot was computed
    dirty: bool = column(sa.Boolean(), default=True)
    #: raised each time the customer is marked dirty: the refresh pass clears the flag only
    #: if no mark came after it read the customer's orders
    dirty_mark: int = column(sa.Integer(), default=0, server_default="0")
    #: a business account (company or B2B customer type), from the customer record
    b2b: bool = column(sa.Boolean(), default=False)
    registered_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    #: last computed values (None: never computed)
    stage: str | None = column(sa.String(16), nullable=True, default=None)
    vip: bool | None = column(sa.Boolean(), nullable=True, default=None)
    rfm_code: str | None = column(sa.String(3), nullable=True, default=None)
    segment: str | None = column(sa.String(32), nullable=True, default=None)
    ltv_minor: int | None = column(sa.BigInteger(), nullable=True, default=None)
    order_count: int | None = column(sa.Integer(), nullable=True, default=None)
    first_order_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    last_order_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    computed_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)


class RuleFiring(SQLModel, table=True):
    """A workflow rule that fired for a customer's transition (fires once per transition)."""

    __tablename__ = "rule_firings"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "customer_key", "rule", "transition"),)

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    tenant_id: str = column(sa.String(64))
    customer_key: str = column(sa.String(KEY))
    rule: str = column(sa.String(64))
    #: e.g. ``became_vip:false->true#1`` (the n-th such transition of this customer)
    transition: str = column(sa.String(128))
    fired_at: datetime = column(UTCDateTime(), default_factory=utc_now)
    #: "done" or "failed: <reason>" per action, joined by "; "
    outcome: str = column(sa.Text(), default="done")


class InsightsEngagement(SQLModel, table=True):
    """Email engagement of one customer on one day (UTC): counts only, from the CRM's
    lifetime counters' growth between two reads."""

    __tablename__ = "insights_engagement"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "customer_key", "day"),
        sa.Index("ix_insights_engagement_tenant_id_day", "tenant_id", "day"),
    )

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    tenant_id: str = column(sa.String(64))
    customer_key: str = column(sa.String(KEY))
    day: date = column(sa.Date())
    opens: int = column(sa.Integer(), default=0)
    clicks: int = column(sa.Integer(), default=0)
    delivered: int = column(sa.Integer(), default=0)


class InsightsEngagementTotal(SQLModel, table=True):
    """The lifetime counters one CRM connection reported for a customer at the last read."""

    __tablename__ = "insights_engagement_totals"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "customer_key", "source"),)

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    tenant_id: str = column(sa.String(64))
    customer_key: str = column(sa.String(KEY))
    #: the CRM connection the counters come from
    source: str = column(sa.String(64))
    opens: int = column(sa.Integer(), default=0)
    clicks: int = column(sa.Integer(), default=0)
    delivered: int = column(sa.Integer(), default=0)
    #: the CRM's last open and last click dates at that read
    last_open_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    last_click_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    read_at: datetime = column(UTCDateTime(), default_factory=utc_now)


class InsightsSupport(SQLModel, table=True):
    """One support ticket (HubSpot ticket, Salesforce Case) or NPS answer of a customer, read
    back from a CRM: dates, open/closed and the score only (no subjects, no comments)."""

    __tablename__ = "insights_support"
    __table_args__ = (
        # one ticket may be associated with several contacts (so several customers)
        sa.UniqueConstraint("tenant_id", "customer_key", "source", "kind", "item_id"),
    )

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    tenant_id: str = column(sa.String(64))
    customer_key: str = column(sa.String(KEY))
    #: the CRM connection it was read from
    source: str = column(sa.String(64))
    #: ``ticket`` or ``nps``
    kind: str = column(sa.String(16))
    item_id: str = column(sa.String(KEY))
    created_at: datetime = column(UTCDateTime())
    #: a ticket that is closed (always True for an NPS answer)
    closed: bool = column(sa.Boolean(), default=False)
    #: the NPS answer, 0..10 (None for a ticket)
    score: int | None = column(sa.Integer(), nullable=True, default=None)
