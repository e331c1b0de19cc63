"""Count the blankings a run makes and trip the blank breaker (issue 14, finding 1b).

A *blanking* is a write of an empty value over a non-empty one. A mapping mistake (a CRM
property typo, a transform that now yields nothing) or a mass clear in one system would
otherwise spread blanks over a whole field of the other system in one run. Engines count
the blankings of each flush per direction and field, and :meth:`BlankGuard.admit` checks
the run's totals against the pipeline's ``blank_breaker`` BEFORE the flush writes anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

import sqlalchemy as sa

from mapping.config import Pipeline
from mapping.transforms import is_blank
from sync.breaker import (
    BlankBreakerTripped,
    SyncDirection,
    check_blanks,
    linked_population,
    record_trip,
)
from sync.hashing import FieldHasher
from sync.merge import Decision
from sync.reconcile import ASSOC_PREFIX, Plan, Planned
from sync.state import LinkRow

__all__ = ["BlankGuard", "hold_first_blanks", "merge_blanks", "push_blanks"]

Blanks = dict[SyncDirection, Counter[str]]


def merge_blanks(decisions: Iterable[Decision]) -> Blanks:
    """The blank values a pull's merge decisions write, per direction and field (a merge
    writes only where the hashes differ, so the overwritten value was not blank)."""
    out: Blanks = {"to_b2connect": Counter(), "to_crm": Counter()}
    for decision in decisions:
        if decision.writes and is_blank(decision.value):
            direction: SyncDirection = (
                "to_b2connect" if decision.action == "to_b2connect" else "to_crm"
            )
            out[direction][decision.field] += 1
    return out


def push_blanks(
    writes: Iterable[Planned], links: Mapping[str, LinkRow], hasher: FieldHasher
) -> Blanks:
    """The fields push would blank in the CRM: last synced non-blank, now blank."""
    found: Counter[str] = Counter()
    for planned in writes:
        link = links.get(planned.key)
        if planned.is_new or link is None:
            continue
        for name in planned.changed:
            if name.startswith(ASSOC_PREFIX) or name not in planned.send:
                continue
            old = link.field_hashes.get(name)
            if is_blank(planned.send[name]) and old not in (None, hasher.value(name, None)):
                found[name] += 1
    return {"to_crm": found}


def hold_first_blanks(plan: Plan, links: Mapping[str, LinkRow]) -> Plan:
    """Push never sends a blank for a field it has not synced before on a linked record
    (a new field mapping, a changed CRM property): the CRM may hold a value there, and a
    blank never overwrites a value on first sync. The field keeps no last-synced hash, so it
    is held again until B2Connect has a value; a record left with nothing to send is
    unchanged."""
    kept: list[Planned] = []
    for planned in plan.writes:
        link = links.get(planned.key)
        if planned.is_new or link is None:
            kept.append(planned)
            continue
        for name in list(planned.changed):
            value = planned.send.get(name)
            if name in planned.send and is_blank(value) and name not in link.field_hashes:
                del planned.send[name]
                planned.changed.remove(name)
                planned.hashes.pop(name, None)
        if planned.changed or planned.deferred:
            kept.append(planned)
        else:
            plan.unchanged.append(planned.record)
    plan.writes = kept
    return plan


class BlankGuard:
    """One run's blankings so far; trips the breaker when a field's total passes the limit."""

    def __init__(self, pipeline: Pipeline, db: sa.Engine, clock: Callable[[], datetime]) -> None:
        self.pipeline = pipeline
        self.db = db
        self.clock = clock
        self.done: Blanks = {"to_b2connect": Counter(), "to_crm": Counter()}

    def admit(self, found: Mapping[SyncDirection, Counter[str]]) -> None:
        """Raise :class:`~sync.breaker.BlankBreakerTripped` if writing ``found`` on top of
        the run's earlier blankings passes the limit; else count them as done."""
        if not any(found.values()):
            return
        try:
            with self.db.begin() as conn:
                population = linked_population(conn, self.pipeline.name)
                for direction, counts in found.items():
                    check_blanks(
                        conn,
                        self.pipeline,
                        direction=direction,
                        blanks=self.done[direction] + counts,
                        population=population,
                        now=self.clock(),
                    )
        except BlankBreakerTripped as exc:
            record_trip(self.db, exc.trip)  # the pause outlives the failed flush
            raise
        for direction, counts in found.items():
            self.done[direction].update(counts)
