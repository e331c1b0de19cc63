"""The consent model and its one rule: the most recent decision wins, opt-out on ties.

A :class:`Decision` is one person's choice for one channel and purpose, with where and when
it was made. :func:`prevails` says whether a new decision replaces the current one:

- ``unknown`` carries no decision and never replaces a known one;
- a later decision replaces an earlier one, whichever way it goes (a newer opt-in after an
  opt-out is a resubscribe);
- at the same instant an opt-out beats an opt-in, so an opt-out is never overwritten by an
  older or same-time opt-in.

:func:`resolve` folds any number of decisions with that rule; the result does not depend on
their order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mapping import normalise_email

__all__ = [
    "ConsentKey",
    "ConsentStatus",
    "Decision",
    "normalise_email",
    "prevails",
    "resolve",
]


class ConsentStatus(StrEnum):
    """Where a person stands on one channel and purpose."""

    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    UNKNOWN = "unknown"


#: (channel, purpose)
ConsentKey = tuple[str, str]

_RANK = {ConsentStatus.UNKNOWN: 0, ConsentStatus.GRANTED: 1, ConsentStatus.WITHDRAWN: 2}


@dataclass(frozen=True, slots=True)
class Decision:
    """One consent decision with its provenance."""

    channel: str
    purpose: str
    status: ConsentStatus
    decided_at: datetime
    source_system: str
    legal_basis: str | None = None
    wording_version: str | None = None

    @property
    def key(self) -> ConsentKey:
        return (self.channel, self.purpose)

    def order(self) -> tuple[datetime, int, str]:
        """Sort key of :func:`resolve`: time, then opt-out over opt-in, then source name."""
        return (self.decided_at, _RANK[self.status], self.source_system)


def prevails(new: Decision, current: Decision | None) -> bool:
    """True when ``new`` replaces ``current`` under the consent rule."""
    if current is None:
        return True
    new_known = new.status is not ConsentStatus.UNKNOWN
    if new_known != (current.status is not ConsentStatus.UNKNOWN):
        return new_known
    return new.order() > current.order()


def resolve(decisions: Iterable[Decision]) -> Decision | None:
    """The decision that stands among ``decisions`` (None for none); order-independent."""
    known: Decision | None = None
    unknown: Decision | None = None
    for decision in decisions:
        if decision.status is ConsentStatus.UNKNOWN:
            if unknown is None or decision.order() > unknown.order():
                unknown = decision
        elif known is None or decision.order() > known.order():
            known = decision
    return known or unknown
