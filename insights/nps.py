"""Support and satisfaction signals of one customer (pure): ticket load and the last NPS answer.

NPS categories follow the survey's own scale: 9–10 promoter, 7–8 passive, 0–6 detractor; a
month's NPS is the share of promoters minus the share of detractors among its answers
(−100..100).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["SupportSignals", "net_promoter_score", "nps_category"]


def nps_category(score: int | None) -> str | None:
    """``promoter``, ``passive`` or ``detractor`` (None without an answer)."""
    if score is None:
        return None
    if score >= 9:
        return "promoter"
    return "passive" if score >= 7 else "detractor"


def net_promoter_score(scores: Iterable[int]) -> float | None:
    """% promoters − % detractors of the answers (None without any)."""
    answers = list(scores)
    if not answers:
        return None
    promoters = sum(1 for s in answers if s >= 9)
    detractors = sum(1 for s in answers if s <= 6)
    return 100 * (promoters - detractors) / len(answers)


@dataclass(frozen=True, slots=True)
class SupportSignals:
    """What the CRMs' tickets/cases and NPS answers say about one customer."""

    open_tickets: int = 0
    recent_tickets: int = 0
    """tickets opened within ``insights.support_days`` (90 by default)"""
    nps_score: int | None = None
    """the customer's last NPS answer"""
    nps_at: datetime | None = None

    @property
    def nps_category(self) -> str | None:
        return nps_category(self.nps_score)
