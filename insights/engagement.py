"""Email engagement read back from the CRM: a compact per-day table of counts.

CRMs keep lifetime counters per contact (HubSpot: emails delivered, opened, clicked, and the
last open/click dates). Each read is compared with the previous one of the same customer and
CRM connection; the growth goes to ``insights_engagement`` (customer key, day, opens, clicks,
delivered: counts only). Opens count on the day of the last open when the CRM reports a newer
one, else on the day of the read; clicks likewise; deliveries on the day of the read.

The first read of a customer is a baseline: the lifetime counters cover an unknown past, so
only what the dates prove is kept (one open on the last-open day, one click on the
last-click day). A counter that went down (merged or re-created contact) starts a new
baseline. Customers with new engagement are marked dirty so the refresh pass rescores them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from connectors.base import EmailEngagement
from insights.ledger import mark_dirty
from store.models import metadata

__all__ = [
    "ENGAGEMENT",
    "TOTALS",
    "DayCounts",
    "MonthEmail",
    "RecentEngagement",
    "engagement_days",
    "has_engagement",
    "month_email",
    "recent_engagement",
    "record_engagement",
]

ENGAGEMENT = metadata.tables["insights_engagement"]
TOTALS = metadata.tables["insights_engagement_totals"]
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class DayCounts:
    """Engagement of one customer on one day."""

    opens: int = 0
    clicks: int = 0
    delivered: int = 0

    def __add__(self, other: DayCounts) -> DayCounts:
        return DayCounts(
            self.opens + other.opens,
            self.clicks + other.clicks,
            self.delivered + other.delivered,
        )

    def __bool__(self) -> bool:
        return bool(self.opens or self.clicks or self.delivered)


def _newer(now: datetime | None, before: datetime | None) -> bool:
    return now is not None and (before is None or now > before)


def engagement_days(
    previous: EmailEngagement | None, current: EmailEngagement, read_at: datetime
) -> dict[date, DayCounts]:
    """What happened between two reads of the counters, by day (see the module doc)."""
    out: dict[date, DayCounts] = {}

    def add(day: date, counts: DayCounts) -> None:
        if counts:
            out[day] = out.get(day, DayCounts()) + counts

    if previous is None:
        if current.opens and current.last_open_at is not None:
            add(current.last_open_at.date(), DayCounts(opens=1))
        if current.clicks and current.last_click_at is not None:
            add(current.last_click_at.date(), DayCounts(clicks=1))
        return out
    opens, clicks = current.opens - previous.opens, current.clicks - previous.clicks
    delivered = current.delivered - previous.delivered
    if opens < 0 or clicks < 0 or delivered < 0:
        return engagement_days(None, current, read_at)
    today = read_at.date()
    open_day = current.last_open_at if _newer(current.last_open_at, previous.last_open_at) else None
    click_day = (
        current.last_click_at if _newer(current.last_click_at, previous.last_click_at) else None
    )
    add(open_day.date() if open_day else today, DayCounts(opens=opens))
    add(click_day.date() if click_day else today, DayCounts(clicks=clicks))
    add(today, DayCounts(delivered=delivered))
    return out


def _load_totals(
    conn: sa.Connection, tenant_id: str, source: str, keys: Sequence[str]
) -> dict[str, EmailEngagement]:
    out: dict[str, EmailEngagement] = {}
    for start in range(0, len(keys), _CHUNK):
        rows = conn.execute(
            sa.select(TOTALS).where(
                TOTALS.c.tenant_id == tenant_id,
                TOTALS.c.source == source,
                TOTALS.c.customer_key.in_(keys[start : start + _CHUNK]),
            )
        ).mappings()
        for r in rows:
            out[r["customer_key"]] = EmailEngagement(
                r["opens"], r["clicks"], r["delivered"], r["last_open_at"], r["last_click_at"]
            )
    return out


def record_engagement(
    conn: sa.Connection,
    tenant_id: str,
    source: str,
    readings: Mapping[str, EmailEngagement],
    now: datetime,
) -> set[str]:
    """Store what changed since the last read of ``source``; returns (and marks dirty) the
    customers with new engagement."""
    keys = sorted(readings)
    known = _load_totals(conn, tenant_id, source, keys)
    changed: set[str] = set()
    for key in keys:
        current = readings[key]
        before = known.get(key)
        days = engagement_days(before, current, now)
        for day, counts in days.items():
            _add_day(conn, tenant_id, key, day, counts)
        if days:
            changed.add(key)
        values = {
            "opens": current.opens,
            "clicks": current.clicks,
            "delivered": current.delivered,
            "last_open_at": current.last_open_at,
            "last_click_at": current.last_click_at,
            "read_at": now,
        }
        if before is None:
            conn.execute(
                sa.insert(TOTALS).values(
                    tenant_id=tenant_id, customer_key=key, source=source, **values
                )
            )
        elif before != current:
            conn.execute(
                sa.update(TOTALS)
                .where(
                    TOTALS.c.tenant_id == tenant_id,
                    TOTALS.c.source == source,
                    TOTALS.c.customer_key == key,
                )
                .values(**values)
            )
    mark_dirty(conn, tenant_id, changed)
    return changed


def _add_day(conn: sa.Connection, tenant_id: str, key: str, day: date, counts: DayCounts) -> None:
    where = (
        ENGAGEMENT.c.tenant_id == tenant_id,
        ENGAGEMENT.c.customer_key == key,
        ENGAGEMENT.c.day == day,
    )
    metrics = {"opens": counts.opens, "clicks": counts.clicks, "delivered": counts.delivered}
    added = {name: ENGAGEMENT.c[name] + value for name, value in metrics.items()}
    found = conn.execute(sa.update(ENGAGEMENT).where(*where).values(**added))
    if not found.rowcount:
        row = {"tenant_id": tenant_id, "customer_key": key, "day": day, **metrics}
        conn.execute(sa.insert(ENGAGEMENT).values(**row))


@dataclass(frozen=True, slots=True)
class RecentEngagement:
    """Opens and clicks within the lead-score window, and the latest open or click."""

    opens: int = 0
    clicks: int = 0
    last_engaged_at: datetime | None = None


def recent_engagement(
    conn: sa.Connection,
    tenant_id: str,
    keys: Sequence[str] | None,
    *,
    now: datetime,
    days: int,
) -> dict[str, RecentEngagement]:
    """Engagement of ``keys`` (everyone when None) in the ``days`` up to ``now``."""
    since = (now - timedelta(days=days)).date()
    sums = sa.select(
        ENGAGEMENT.c.customer_key, sa.func.sum(ENGAGEMENT.c.opens), sa.func.sum(ENGAGEMENT.c.clicks)
    ).where(
        ENGAGEMENT.c.tenant_id == tenant_id,
        ENGAGEMENT.c.day >= since,
        ENGAGEMENT.c.day <= now.date(),
    )
    latest = sa.select(
        TOTALS.c.customer_key,
        sa.func.max(TOTALS.c.last_open_at),
        sa.func.max(TOTALS.c.last_click_at),
    ).where(TOTALS.c.tenant_id == tenant_id)
    batches: list[Sequence[str] | None] = (
        [None] if keys is None else [keys[i : i + _CHUNK] for i in range(0, len(keys), _CHUNK)]
    )
    counts: dict[str, tuple[int, int]] = {}
    last: dict[str, datetime] = {}
    for batch in batches:
        q1, q2 = sums, latest
        if batch is not None:
            q1 = q1.where(ENGAGEMENT.c.customer_key.in_(batch))
            q2 = q2.where(TOTALS.c.customer_key.in_(batch))
        for key, opens, clicks in conn.execute(q1.group_by(ENGAGEMENT.c.customer_key)):
            counts[key] = (int(opens or 0), int(clicks or 0))
        for key, opened, clicked in conn.execute(q2.group_by(TOTALS.c.customer_key)):
            moments = [m for m in (opened, clicked) if m is not None]
            if moments:
                last[key] = max(moments)
    return {
        key: RecentEngagement(*counts.get(key, (0, 0)), last.get(key))
        for key in set(counts) | set(last)
    }


def has_engagement(conn: sa.Connection, tenant_id: str) -> bool:
    """Whether any engagement was ever read back for the tenant."""
    found = conn.execute(sa.select(TOTALS.c.id).where(TOTALS.c.tenant_id == tenant_id).limit(1))
    return found.first() is not None


@dataclass(frozen=True, slots=True)
class MonthEmail:
    """A month's email totals across customers."""

    delivered: int
    opens: int
    clicks: int

    @property
    def open_rate(self) -> float | None:
        return self.opens / self.delivered if self.delivered else None

    @property
    def click_rate(self) -> float | None:
        return self.clicks / self.delivered if self.delivered else None


def month_email(conn: sa.Connection, tenant_id: str, start: datetime, end: datetime) -> MonthEmail:
    """Delivered, opened and clicked emails on the days of ``[start, end)``."""
    row = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(ENGAGEMENT.c.delivered), 0),
            sa.func.coalesce(sa.func.sum(ENGAGEMENT.c.opens), 0),
            sa.func.coalesce(sa.func.sum(ENGAGEMENT.c.clicks), 0),
        ).where(
            ENGAGEMENT.c.tenant_id == tenant_id,
            ENGAGEMENT.c.day >= start.date(),
            ENGAGEMENT.c.day < end.date(),
        )
    ).one()
    return MonthEmail(int(row[0]), int(row[1]), int(row[2]))
