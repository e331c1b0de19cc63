"""Propagating standing decisions to every system that holds something else.

For each system and each standing decision the system does not hold yet, one
:class:`ConsentWrite` goes to the connector; results commit with their audit events. A write
the system cannot apply (HubSpot v3 cannot resubscribe, a person the CRM does not know) is
recorded with its reason against that decision and not tried again until a newer decision
comes; a transient failure is tried again on the next run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog

from audit import AuditEvent, KeyRing, record_events
from connectors.base import ConsentWrite
from connectors.errors import ConnectorError
from connectors.records import WriteResult
from consent import consent_store as cstore
from consent.consent_read import Applied, consent_event
from consent.model import ConsentKey, Decision
from mapping import normalise_email
from store import begin_write

__all__ = ["Outcome", "Propagator", "Target", "redact"]

log = structlog.get_logger(__name__)
#: decisions written to one system per call (and recorded per transaction): a call holds the
#: connection, so a propagation of thousands of decisions lets pipeline runs in between
WRITE_BATCH = 100

_EMAIL = re.compile(r"[^\s@<>()\[\]\"',;:]+@[^\s@<>()\[\]\"',;:]+")


def redact(text: str) -> str:
    """A vendor message without the email addresses it may quote (it is stored and shown)."""
    return _EMAIL.sub("<email>", text)[:500]


#: failures that mean "this system will not take this decision": not retried until a newer one
_FINAL = frozenset({"NOT_IN_CRM", "CANNOT_RESUBSCRIBE", "NOT_MAPPED", "NO_EMAIL", "NO_SUBJECT"})
#: failures that are not about the decision at all (the person is simply not there)
_ABSENT = frozenset({"NOT_IN_CRM", "NO_EMAIL", "NO_SUBJECT"})


@dataclass(frozen=True)
class Target:
    """A system consent is written to: its connector, its part of the config, its keys."""

    system: str
    connector: Any
    mapping: Any
    #: channel/purpose pairs this system holds (None: all of them)
    keys: frozenset[ConsentKey] | None = None


@dataclass
class Outcome:
    """Counts of one propagation, per system."""

    applied: dict[str, int] = field(default_factory=dict)
    not_applied: dict[str, int] = field(default_factory=dict)
    absent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _bump(counts: dict[str, int], system: str) -> None:
    counts[system] = counts.get(system, 0) + 1


@dataclass(frozen=True)
class _Wanted:
    subject: int
    key: ConsentKey
    decision: Decision
    previous: cstore.SystemState | None


class Propagator:
    """Writes standing decisions to the systems that do not hold them yet."""

    def __init__(
        self,
        *,
        db: sa.Engine,
        tenant_id: str,
        audit_keys: KeyRing | None,
        clock: Callable[[], datetime],
        emails_of: Callable[[Sequence[str]], Mapping[str, str]],
    ) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.audit_keys = audit_keys
        self.clock = clock
        #: customer ids -> emails (B2Connect), for people whose email this run did not see
        self.emails_of = emails_of

    def run(self, targets: Iterable[Target], applied: Applied, out: Outcome) -> None:
        with self.db.connect() as conn:
            decisions = cstore.load_decisions(conn, tenant=self.tenant_id)
            systems = cstore.load_system_states(conn, list(decisions))
            refs = cstore.subject_refs(conn, list(decisions))
        customers = {s: c for s, c in refs.items() if c} | applied.customers
        for target in targets:
            wanted = self._wanted(target, decisions, systems)
            for start in range(0, len(wanted), WRITE_BATCH):  # one batch holds the connection
                batch = wanted[start : start + WRITE_BATCH]
                if not self._apply(target, batch, applied, customers, out):
                    break  # the system failed as a whole: the rest waits for the next run

    def _wanted(
        self,
        target: Target,
        decisions: Mapping[int, Mapping[ConsentKey, Decision]],
        systems: Mapping[tuple[int, str, str, str], cstore.SystemState],
    ) -> list[_Wanted]:
        out = []
        for subject, by_key in decisions.items():
            for key, decision in by_key.items():
                if target.keys is not None and key not in target.keys:
                    continue
                previous = systems.get((subject, target.system, *key))
                if previous is not None and previous.status == decision.status.value:
                    continue
                if previous is not None and previous.blocked_decision_at == decision.decided_at:
                    continue  # this decision was refused here already
                out.append(_Wanted(subject, key, decision, previous))
        return out

    def _emails(
        self, target: Target, wanted: list[_Wanted], applied: Applied, customers: dict[int, str]
    ) -> dict[int, str]:
        emails = dict(applied.emails)
        if target.system == "b2connect":
            return emails
        missing = sorted(
            {
                customers[w.subject]
                for w in wanted
                if w.subject not in emails and w.subject in customers
            }
        )
        if missing:
            try:
                found = self.emails_of(missing)
            except ConnectorError as exc:
                log.warning("consent.email_lookup_failed", code=exc.code)
                found = {}
            by_customer = {c: s for s, c in customers.items()}
            for customer, email in found.items():
                if customer in by_customer:
                    emails[by_customer[customer]] = normalise_email(email)
        return emails

    def _apply(
        self,
        target: Target,
        wanted: list[_Wanted],
        applied: Applied,
        customers: dict[int, str],
        out: Outcome,
    ) -> bool:
        """Write one batch and record the outcomes; False when the system failed as a whole."""
        emails = self._emails(target, wanted, applied, customers)
        writes = [
            ConsentWrite(
                key=f"{w.subject}:{w.key[0]}:{w.key[1]}",
                channel=w.key[0],
                purpose=w.key[1],
                status=w.decision.status.value,
                decided_at=w.decision.decided_at,
                email=emails.get(w.subject),
                customer_id=customers.get(w.subject),
                ref=w.previous.ref if w.previous else None,
                legal_basis=w.decision.legal_basis,
                wording_version=w.decision.wording_version,
                source_system=w.decision.source_system,
            )
            for w in wanted
        ]
        try:
            results = target.connector.write_consents(target.mapping, writes)
        except ConnectorError as exc:
            out.errors.append(f"{target.system}: {exc.message}")
            log.warning("consent.write_failed", system=target.system, code=exc.code)
            return False
        now = self.clock()
        with begin_write(self.db) as conn:
            events = [
                event
                for w, write, result in zip(wanted, writes, results, strict=True)
                for event in self._record(
                    conn, target.system, w, write, result, customers, now, out
                )
            ]
            if events and self.audit_keys is not None:
                record_events(conn, events, keys=self.audit_keys, now=now)
        log.info(
            "consent.propagated",
            system=target.system,
            applied=out.applied.get(target.system, 0),
            not_applied=out.not_applied.get(target.system, 0),
        )
        return True

    def _record(
        self,
        conn: sa.Connection,
        system: str,
        wanted: _Wanted,
        write: ConsentWrite,
        result: WriteResult,
        customers: Mapping[int, str],
        now: datetime,
        out: Outcome,
    ) -> list[AuditEvent]:
        previous = wanted.previous
        old = previous.status if previous else None
        who = customers.get(wanted.subject) or write.email
        if result.ok:
            seen = cstore.SystemState(
                status=write.status, observed_at=now, ref=result.crm_id or write.ref
            )
            cstore.save_system_state(conn, wanted.subject, system, wanted.key, seen, now)
            _bump(out.applied, system)
            return [self._event(who, wanted, old, write.status, system, "applied", None)]
        error = result.error
        code = error.code if error else "ERROR"
        reason = redact(f"{code}: {error.message if error else 'no detail'}")
        final = code in _FINAL or not (error and error.retriable)
        kept = previous or cstore.SystemState(status="unknown")
        kept.blocked_reason = reason
        kept.blocked_decision_at = wanted.decision.decided_at if final else None
        cstore.save_system_state(conn, wanted.subject, system, wanted.key, kept, now)
        if code in _ABSENT:
            _bump(out.absent, system)
            return []
        if not final:
            _bump(out.failed, system)
            return []
        _bump(out.not_applied, system)
        out.reasons.append(f"{system}: {reason}")
        return [self._event(who, wanted, old, write.status, system, "not_applied", reason)]

    def _event(
        self,
        who: str | None,
        wanted: _Wanted,
        old: str | None,
        new: str,
        system: str,
        outcome: str,
        reason: str | None,
    ) -> AuditEvent:
        details: dict[str, Any] = {"decided_at": wanted.decision.decided_at.isoformat()}
        if reason:
            details["reason"] = reason
        return consent_event(
            tenant_id=self.tenant_id,
            subject=who,
            key=wanted.key,
            old=old,
            new=new,
            source_system=wanted.decision.source_system,
            target_system=system,
            outcome=outcome,
            details=details,
        )
