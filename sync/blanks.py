"""Count the blankings a run makes and trip the blank breaker.

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

from audit import AuditEvent, KeyRing, record_events
from audit.events import BREAKER_TRIPPED
from mapping.config import Pipeline
from mapping.transforms import is_blank
from store import begin_write
from sync import state
from sync.breaker import (
    PREFIX,
    BreakerTrip,
    SyncDirection,
    check_blanks,
    linked_population,
    record_trip,
)
from sync.errors import BlankBreakerTripped
from sync.hashing import FieldHasher
from sync.merge import Decision
from sync.plan import ASSOC_PREFIX, Plan, Planned
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

    def __init__(
        self,
        pipeline: Pipeline,
        db: sa.Engine,
        clock: Callable[[], datetime],
        *,
        audit_keys: KeyRing | None = None,
        tenant_id: str = "",
        run_id: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.db = db
        self.clock = clock
        self.audit_keys = audit_keys
        self.tenant_id = tenant_id
        self.run_id = run_id
        self.done: Blanks = {"to_b2connect": Counter(), "to_crm": Counter()}

    def admit(self, found: Mapping[SyncDirection, Counter[str]]) -> None:
        """Raise :class:`~sync.errors.BlankBreakerTripped` if writing ``found`` on top of
        the run's earlier blankings passes the limit; else count them as done."""
        if not any(found.values()):
            return
        try:
            with begin_write(self.db) as conn:  # may pause the pipeline: a write
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
            self._record(exc.trip)  # the pause outlives the failed flush
            raise
        for direction, counts in found.items():
            self.done[direction].update(counts)

    def _record(self, trip: BreakerTrip) -> None:
        """Store the trip and, with the audit trail on, its event (counts, no values)."""
        if self.audit_keys is None:
            record_trip(self.db, trip)
            return
        event = AuditEvent(
            actor="b2sync",
            tenant_id=self.tenant_id,
            action=BREAKER_TRIPPED,
            outcome="paused",
            stream=self.pipeline.b2connect.stream,
            record_key=self.pipeline.name,
            changed_fields=[trip.field or ""],
            run_id=self.run_id,
            details={
                "breaker": trip.kind, "pipeline": trip.pipeline, "field": trip.field,
                "direction": trip.direction, "count": trip.deletes,
                "population": trip.population, "limit": trip.limit,
            },
        )  # fmt: skip
        with begin_write(self.db) as conn:
            state.set_setting(conn, PREFIX + trip.pipeline, trip.to_json())
            record_events(conn, [event], keys=self.audit_keys, now=self.clock())
