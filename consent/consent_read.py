"""Reading consent from every system and turning changes into decisions.

A fact that differs from what the system was last seen holding (or was last told) is a new
decision of that system, timed by the system; it becomes the standing decision when it
prevails under the consent rule (:func:`consent.model.prevails`). A fact equal to the last
known state is nothing new (our own writes coming back, a contact edited for another
reason). Defaults are not decisions: an unticked Salesforce checkbox counts only when it
follows an opt-out, ``unknown`` never counts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog

from audit import AuditEvent, KeyRing, record_events
from audit.events import CONSENT_CHANGE
from connectors.base import ConsentFact, ConsentPage
from consent import consent_store as cstore
from consent.model import ConsentKey, ConsentStatus, Decision, prevails
from mapping import normalise_email
from store import begin_write
from store.models import Side
from sync import state
from sync.hashing import FieldHasher

__all__ = ["CURSOR_PIPELINE", "FACTS_PER_WRITE", "Applied", "FactReader", "consent_event"]

log = structlog.get_logger(__name__)

#: the ``cursors.pipeline`` value of the consent sync's cursors (one per system)
CURSOR_PIPELINE = "@consent"
#: consent facts applied per write transaction (with their audit events)
FACTS_PER_WRITE = 10
#: reasons of writes refused because the person was not in the system (see consent_apply)
_ABSENT = ("NOT_IN_CRM", "NO_EMAIL", "NO_SUBJECT")


@dataclass
class Applied:
    """What reading did: facts per system, decisions taken, people it learned emails of."""

    facts: dict[str, int] = field(default_factory=dict)
    decisions: int = 0
    #: subject id -> email seen in this run (kept in memory only)
    emails: dict[int, str] = field(default_factory=dict)
    #: subject id -> customer id seen in this run
    customers: dict[int, str] = field(default_factory=dict)
    #: (subject id, channel, purpose) whose standing decision became withdrawn
    withdrawn: set[tuple[int, str, str]] = field(default_factory=set)
    #: reading stopped early (the daemon is stopping): the page in progress was not finished
    stopped: bool = False


def consent_event(
    *,
    tenant_id: str,
    subject: str | None,
    key: ConsentKey,
    old: str | None,
    new: str,
    source_system: str,
    target_system: str,
    outcome: str = "ok",
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """A ``consent.change`` audit event: old and new status of one channel and purpose."""
    return AuditEvent(
        actor="consent-sync",
        tenant_id=tenant_id,
        action=CONSENT_CHANGE,
        outcome=outcome,
        source_system=source_system,
        target_system=target_system,
        stream="consents",
        record_key=f"{key[0]}/{key[1]}",
        subject=subject,
        changed_fields=("status",),
        values={"status": {"old": old, "new": new}},
        details={"channel": key[0], "purpose": key[1], **(details or {})},
    )


class FactReader:
    """Applies the facts of each page in one transaction with their cursor and audit events."""

    def __init__(
        self,
        *,
        db: sa.Engine,
        hasher: FieldHasher,
        tenant_id: str,
        audit_keys: KeyRing | None,
        clock: Callable[[], datetime],
        default_legal_basis: str,
    ) -> None:
        self.db = db
        self.hasher = hasher
        self.tenant_id = tenant_id
        self.audit_keys = audit_keys
        self.clock = clock
        self.default_legal_basis = default_legal_basis

    def read(
        self,
        system: str,
        pages: Callable[[Any], Iterator[ConsentPage]],
        out: Applied,
        stop: threading.Event | None = None,
    ) -> None:
        """Follow one system's consent changes from its stored cursor; once ``stop`` is set,
        stop before the next chunk (``out.stopped``): the page in progress keeps its cursor,
        so the next run reads it again (re-applying a fact changes nothing)."""
        side = Side.B2CONNECT if system == "b2connect" else Side.CRM
        with self.db.connect() as conn:
            cursor = state.get_cursor(conn, CURSOR_PIPELINE, system, side)
        feed = pages(cursor)
        try:
            for page in feed:
                if not self._apply_page(system, side, page, out, stop):
                    out.stopped = True
                    break
        finally:
            close = getattr(feed, "close", None)
            if close is not None:
                close()
        log.info("consent.read", system=system, facts=out.facts.get(system, 0))

    def _apply_page(
        self,
        system: str,
        side: Side,
        page: ConsentPage,
        out: Applied,
        stop: threading.Event | None,
    ) -> bool:
        """Apply one page's facts; False when ``stop`` came first (the page not finished)."""
        now = self.clock()
        facts = list(page.facts)
        # a few facts per write transaction (a first run's page holds thousands), so the
        # store's write lock is never held long (a webhook's run waits for one chunk at
        # most); the cursor moves with the last chunk only: a crash before it re-reads the
        # page, and re-applying a fact already applied changes nothing
        starts = list(range(0, len(facts), FACTS_PER_WRITE)) or [0]
        for start in starts:
            if stop is not None and stop.is_set():
                return False
            chunk = facts[start : start + FACTS_PER_WRITE]
            with begin_write(self.db) as conn:
                events = [e for fact in chunk for e in self._fact(conn, system, fact, now, out)]
                if page.cursor is not None and start == starts[-1]:
                    state.set_cursor(conn, CURSOR_PIPELINE, system, side, page.cursor, now)
                if events and self.audit_keys is not None:
                    record_events(conn, events, keys=self.audit_keys, now=now)
        out.facts[system] = out.facts.get(system, 0) + len(facts)
        return True

    def _fact(
        self, conn: sa.Connection, system: str, fact: ConsentFact, now: datetime, out: Applied
    ) -> list[AuditEvent]:
        hashed = cstore.email_hash(self.hasher, fact.email) if fact.email else None
        subject = cstore.subject_for(
            conn, self.tenant_id, hashed=hashed, customer_id=fact.customer_id, now=now
        )
        if subject is None:
            return []
        if fact.email:
            out.emails[subject] = normalise_email(fact.email)
        if fact.customer_id:
            out.customers[subject] = fact.customer_id
        key: ConsentKey = (fact.channel, fact.purpose)
        previous = cstore.load_system_states(conn, [subject]).get((subject, system, *key))
        same = previous is not None and previous.status == fact.status
        seen = cstore.SystemState(
            status=fact.status,
            # once a system holds a status explicitly (we wrote it), a default saying the
            # same does not make it implicit again
            implicit=fact.implicit and (not same or bool(previous and previous.implicit)),
            observed_at=fact.decided_at,
            ref=fact.ref or (previous.ref if previous else None),
        )
        if (
            previous is not None
            and previous.status == fact.status
            and not (previous.blocked_reason or "").startswith(_ABSENT)
        ):  # a refusal still stands; "not there" no longer does: the system just showed them
            seen.blocked_reason = previous.blocked_reason
            seen.blocked_decision_at = previous.blocked_decision_at
        cstore.save_system_state(conn, subject, system, key, seen, now)
        if previous is not None and previous.status == fact.status:
            return []  # nothing new: our own write coming back, or another field changed
        if fact.status not in (ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN):
            return []
        if fact.implicit and (previous is None or previous.status != ConsentStatus.WITHDRAWN):
            return []  # a default, not a decision
        decision = Decision(
            channel=fact.channel,
            purpose=fact.purpose,
            status=ConsentStatus(fact.status),
            decided_at=fact.decided_at or now,
            source_system=system,
            legal_basis=fact.legal_basis or self.default_legal_basis,
            wording_version=fact.wording_version,
        )
        current = cstore.load_decisions(conn, [subject]).get(subject, {}).get(key)
        if not prevails(decision, current):
            log.info("consent.older_decision_ignored", system=system, channel=key[0])
            return []
        cstore.save_decision(conn, subject, decision, now)
        out.decisions += 1
        if decision.status is ConsentStatus.WITHDRAWN:
            out.withdrawn.add((subject, *key))
        else:
            out.withdrawn.discard((subject, *key))
        who = fact.customer_id or out.customers.get(subject) or out.emails.get(subject)
        return [
            consent_event(
                tenant_id=self.tenant_id,
                subject=who,
                key=key,
                old=current.status.value if current else None,
                new=decision.status.value,
                source_system=system,
                target_system="b2sync",
                outcome="decided",
                details={
                    "decided_at": decision.decided_at.isoformat(),
                    "legal_basis": decision.legal_basis,
                    "wording_version": decision.wording_version,
                },
            )
        ]
