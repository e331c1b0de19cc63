"""RFM scores: recency by day bands, frequency by order-count bands, monetary by quintiles.

Monetary thresholds come from a population (all customers with at least one order), so
they are computed once per run with :func:`monetary_quintiles` and passed in.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import overload

from insights.errors import InsightsError
from insights.metrics import CENT, CustomerMetrics
from insights.segments import Segment, segment_for
from mapping.config import DEFAULT_SETTINGS, InsightsSettings

__all__ = [
    "LifetimeValues",
    "MonetaryThresholds",
    "RfmScore",
    "frequency_score",
    "monetary_quintiles",
    "monetary_score",
    "percentile_threshold",
    "recency_score",
    "rfm_score",
]

MonetaryThresholds = tuple[Decimal, Decimal, Decimal, Decimal]
"""Upper bounds (inclusive) of M1, M2, M3 and M4; anything above the last is M5."""
#: whole cents per unit of the reporting currency
_CENTS = 100


class LifetimeValues(Sequence[Decimal]):
    """A population's lifetime values held as whole cents in one array: 8 bytes a buyer
    instead of a ``Decimal`` object of about 110, so a full pass over 100,000 buyers holds
    under 1 MB for its cut points, in one block the allocator gets back whole. Reads give
    ``Decimal`` values with two places."""

    __slots__ = ("_cents",)

    def __init__(self, values: Iterable[Decimal] = ()) -> None:
        self._cents = array("q")
        for value in values:
            self.append(value)

    def append(self, value: Decimal) -> None:
        """Add one value (rounded to the cent)."""
        self._cents.append(int(value.quantize(CENT) * _CENTS))

    def ascending(self) -> LifetimeValues:
        """The same values in ascending order."""
        ordered = LifetimeValues()
        ordered._cents = array("q", sorted(self._cents))
        return ordered

    def __len__(self) -> int:
        return len(self._cents)

    @overload
    def __getitem__(self, index: int) -> Decimal: ...

    @overload
    def __getitem__(self, index: slice) -> LifetimeValues: ...

    def __getitem__(self, index: int | slice) -> Decimal | LifetimeValues:
        if isinstance(index, slice):  # a part of the values, still as cents
            part = LifetimeValues()
            part._cents = self._cents[index]
            return part
        return Decimal(self._cents[index]).scaleb(-2)

    def __iter__(self) -> Iterator[Decimal]:
        return (Decimal(cents).scaleb(-2) for cents in self._cents)


def ascending(values: Iterable[Decimal]) -> Sequence[Decimal]:
    """``values`` sorted (a :class:`LifetimeValues` stays in its compact form)."""
    return values.ascending() if isinstance(values, LifetimeValues) else sorted(values)


@dataclass(frozen=True, slots=True)
class RfmScore:
    """Recency, frequency and monetary scores, each 1..5."""

    recency: int
    frequency: int
    monetary: int

    def __post_init__(self) -> None:
        for name in ("recency", "frequency", "monetary"):
            if not 1 <= getattr(self, name) <= 5:
                raise ValueError(f"{name} score must be 1..5")

    @property
    def code(self) -> str:
        """The three-digit code, e.g. ``"545"``."""
        return f"{self.recency}{self.frequency}{self.monetary}"

    @property
    def segment(self) -> Segment:
        """The one segment this code belongs to."""
        return segment_for(self.code)


def recency_score(age: timedelta, settings: InsightsSettings = DEFAULT_SETTINGS) -> int:
    """R from the age of the last order: 5 if < 7 days, 4 if ≤ 30, 3 if ≤ 60, 2 if ≤ 90, else 1.

    The first band is strict (playbook: "< 7 days"), the last open ("> 90 days" is R1), so
    exactly 7 days is R4 and exactly 90 days is R2.
    """
    first, *rest = (timedelta(days=d) for d in settings.recency_days)
    if age < first:
        return 5
    return 4 - sum(1 for bound in rest if age > bound)


def frequency_score(order_count: int, settings: InsightsSettings = DEFAULT_SETTINGS) -> int:
    """F from the number of orders: 1 order is F1; 2 F2; 3–4 F3; 5–9 F4; 10+ F5 (defaults)."""
    if order_count < 1:
        raise InsightsError("a customer without orders has no frequency score")
    return 1 + sum(1 for least in settings.frequency_orders if order_count >= least)


def percentile_threshold(ordered: Sequence[Decimal], percent: int) -> Decimal:
    """Nearest-rank percentile of an ascending list: the smallest value with ``percent`` % at
    or below it."""
    if not ordered:
        raise InsightsError("a percentile needs at least one value")
    rank = -(-percent * len(ordered) // 100)  # ceil without floats
    return ordered[max(rank, 1) - 1]


def monetary_quintiles(
    values: Iterable[Decimal], settings: InsightsSettings = DEFAULT_SETTINGS
) -> MonetaryThresholds:
    """M thresholds from a population's lifetime values (20th, 40th, 60th, 80th percentile).

    Nearest-rank percentiles: with n distinct values, the top ``n // 5`` values are M5;
    equal values always share a score. Raises ``InsightsError`` for an empty population.
    """
    ordered = ascending(values)
    p1, p2, p3, p4 = (percentile_threshold(ordered, p) for p in settings.monetary_percentiles)
    return (p1, p2, p3, p4)


def monetary_score(value: Decimal, thresholds: MonetaryThresholds) -> int:
    """M: 1 + the number of thresholds ``value`` exceeds."""
    return 1 + sum(1 for bound in thresholds if value > bound)


def rfm_score(
    metrics: CustomerMetrics,
    *,
    now: datetime,
    thresholds: MonetaryThresholds,
    settings: InsightsSettings = DEFAULT_SETTINGS,
) -> RfmScore | None:
    """The customer's RFM score, or None for a customer without (non-cancelled) orders."""
    age = metrics.days_since_last_order(now)
    if age is None:
        return None
    return RfmScore(
        recency=recency_score(age, settings),
        frequency=frequency_score(metrics.order_count, settings),
        monetary=monetary_score(metrics.lifetime_value, thresholds),
    )
