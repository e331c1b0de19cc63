"""The monthly report's acquisition section: CAC, net LTV and LTV:CAC per cohort and channel.

Definitions (:mod:`insights.acquisition`, ``docs/insights.md``): new customers of a cohort
and channel are those whose first counted order fell in that month with that ``source``;
their LTV is as of the report month's end. The summary's *CAC* is the month's spend over its
new customers; its *LTV:CAC* is the LTV of everyone acquired in the 12 months up to the
report month over the spend of those months.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from insights.acquisition import CacTable, channel_of, load_spend, month_of, new_customers
from insights.history import History, months_back
from insights.profile import CustomerInsights
from mapping.config import InsightsConfig

__all__ = ["AcquisitionRow", "AcquisitionSection", "acquisition_section"]

_WINDOW = 12


@dataclass(frozen=True)
class AcquisitionRow:
    """One cohort (first-order month) and channel."""

    month: str
    channel: str
    spend: Decimal
    new: int
    cac: Decimal | None
    average_ltv: Decimal | None
    average_net_ltv: Decimal | None
    ratio: Decimal | None


@dataclass(frozen=True)
class AcquisitionSection:
    """The rows of the last 12 cohorts and the two summary figures (None: no data)."""

    rows: list[AcquisitionRow]
    cac: float | None
    previous_cac: float | None
    ratio: float | None
    previous_ratio: float | None


def _months(month: datetime) -> list[str]:
    return [month_of(months_back(month, n)) for n in range(_WINDOW - 1, -1, -1)]


def _ratio(
    table: CacTable,
    ltv: Mapping[str, Decimal],
    cells: Mapping[str, tuple[str, str]],
    months: list[str],
) -> float | None:
    spend = sum((table.month_spend(m) for m in months), Decimal(0))
    if not spend:
        return None
    value = sum((ltv.get(k, Decimal(0)) for k, (m, _c) in cells.items() if m in months), Decimal(0))
    return float(value / spend)


def _month_cac(table: CacTable, month: str) -> float | None:
    new = table.month_new(month)
    return float(table.month_spend(month) / new) if new and table.spend else None


def acquisition_section(
    history: History,
    month: datetime,
    current: Mapping[str, CustomerInsights],
    previous: Mapping[str, CustomerInsights],
    config: InsightsConfig,
) -> AcquisitionSection | None:
    """The section for ``month`` (None without ``insights.marketing_spend``).

    Raises:
        SpendError: the spend CSV is unreadable or malformed (file:line).
    """
    if config.marketing_spend is None:
        return None
    spend = load_spend(config.marketing_spend)
    firsts = history.first_orders()
    cells = {
        key: (month_of(first), channel_of(history.sources.get(key)))
        for key, first in firsts.items()
    }
    table = CacTable(spend, new_customers((firsts[k], history.sources.get(k)) for k in firsts))
    months, last_months = _months(month), _months(months_back(month, 1))
    ltv = {k: i.metrics.lifetime_value for k, i in current.items()}
    rows: list[AcquisitionRow] = []
    for m, channel in table.cells():
        if m not in months:
            continue
        members = [ltv[k] for k, cell in cells.items() if cell == (m, channel) and k in ltv]
        cac = table.cac(m, channel)
        avg = sum(members, Decimal(0)) / len(members) if members else None
        rows.append(
            AcquisitionRow(
                month=m,
                channel=channel,
                spend=spend.get((m, channel), Decimal(0)),
                new=table.new.get((m, channel), 0),
                cac=cac,
                average_ltv=avg,
                average_net_ltv=None if avg is None or cac is None else avg - cac,
                ratio=(avg / cac) if avg is not None and cac else None,
            )
        )
    prev_ltv = {k: i.metrics.lifetime_value for k, i in previous.items()}
    return AcquisitionSection(
        rows=rows,
        cac=_month_cac(table, months[-1]),
        previous_cac=_month_cac(table, last_months[-1]),
        ratio=_ratio(table, ltv, cells, months),
        previous_ratio=_ratio(table, prev_ltv, cells, last_months),
    )
