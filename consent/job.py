"""The consent sync job: read every system's consent, decide, propagate, act on pipelines.

One run (``b2sync consent sync``, or the daemon on ``consent.schedule``):

1. read B2Connect's consent feed, then HubSpot's subscription statuses, then Salesforce's
   opt-out checkboxes, each from its own cursor; a change a system made is a decision, which
   stands if it prevails (:func:`consent.model.prevails`: newest wins, opt-out on ties);
2. write every standing decision to the systems that hold something else
   (:mod:`consent.consent_apply`);
3. archive the CRM records of people who withdrew, for pipelines with
   ``on_withdraw: archive``, and push held people who now grant the consent.

When the daemon stops (``stop``), the run ends before the next chunk of facts: the page in
progress is read again next time, step 2 waits for the next run (it works from the stored
decisions), and the people who withdrew in what was read are still archived.

Decisions and applied writes are audited (``consent.change``) in the transaction that
records them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog

from audit import KeyRing
from connectors.base import ConsentPage, SupportsFetch
from connectors.errors import ConnectorError
from connectors.records import Record
from consent.consent_apply import Outcome, Propagator, Target
from consent.consent_pipelines import archive_withdrawn, release_held, requiring
from consent.consent_read import Applied, FactReader
from consent.consent_store import subject_refs
from consent.model import ConsentKey
from mapping.config import ConsentSettings, Pipeline
from sync.hashing import FieldHasher

__all__ = ["SALESFORCE_INDIVIDUAL", "SALESFORCE_RECORDS", "ConsentSummary", "ConsentSync"]

#: Salesforce's ContactPointTypeConsent records, kept apart from its Contact checkboxes: each
#: holds its own state, so a default checkbox never contradicts an explicit record
SALESFORCE_RECORDS = "salesforce_records"
#: the privacy checkboxes of Salesforce Individuals (HasOptedOutProcessing, ...), likewise
SALESFORCE_INDIVIDUAL = "salesforce_individual"

log = structlog.get_logger(__name__)


@dataclass
class ConsentSummary:
    """What one consent sync run did."""

    facts: dict[str, int] = field(default_factory=dict)
    decisions: int = 0
    applied: dict[str, int] = field(default_factory=dict)
    not_applied: dict[str, int] = field(default_factory=dict)
    absent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    archived: int = 0
    released: int = 0
    reasons: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no system failed as a whole (refused single decisions are not failures)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "facts": self.facts,
            "decisions": self.decisions,
            "applied": self.applied,
            "not_applied": self.not_applied,
            "absent": self.absent,
            "failed": self.failed,
            "archived": self.archived,
            "released": self.released,
            "reasons": self.reasons,
            "errors": self.errors,
        }


def _pages(target: Target) -> Callable[[Any], Iterator[ConsentPage]]:
    def pages(cursor: Any) -> Iterator[ConsentPage]:
        result: Iterator[ConsentPage] = target.connector.read_consents(target.mapping, cursor)
        return result

    return pages


class ConsentSync:
    """One consent sync over the systems named in the ``consent:`` section."""

    def __init__(
        self,
        settings: ConsentSettings,
        *,
        db: sa.Engine,
        hasher: FieldHasher,
        connector: Callable[[str], Any],
        tenant_id: str,
        clock: Callable[[], datetime],
        audit_keys: KeyRing | None = None,
        pipelines: Sequence[Pipeline] = (),
        push: Callable[[Pipeline, list[Record]], None] | None = None,
        crm_types: Mapping[str, str] | None = None,
        pipeline_lock: Callable[[str], AbstractContextManager[object]] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        #: set when the daemon stops: the run ends at the next chunk of facts it reads
        self.stop = stop
        self.db = db
        self.connector = connector
        self.tenant_id = tenant_id
        self.clock = clock
        self.audit_keys = audit_keys
        self.pipelines = requiring(pipelines)
        self.push = push
        #: held around archiving a pipeline's records, whose links go (no run of it meanwhile)
        self.pipeline_lock = pipeline_lock or (lambda _name: nullcontext())
        self.crm_types = dict(crm_types or {})
        self.reader = FactReader(
            db=db,
            hasher=hasher,
            tenant_id=tenant_id,
            audit_keys=audit_keys,
            clock=clock,
            default_legal_basis=settings.default_legal_basis,
        )

    # ---- the systems

    def targets(self) -> list[Target]:
        """Every system taking part, B2Connect first, with the keys each one holds."""
        s = self.settings
        out = [Target("b2connect", self.connector(s.b2connect), None)]
        if s.hubspot is not None:
            hs_keys: frozenset[ConsentKey] = frozenset(
                (x.channel, x.purpose) for x in s.hubspot.subscriptions
            )
            out.append(Target("hubspot", self.connector(s.hubspot.connection), s.hubspot, hs_keys))
        if s.salesforce is not None:
            conn = self.connector(s.salesforce.connection)
            none: dict[str, Any] = {"fields": [], "consent_records": [], "individual": []}
            if s.salesforce.fields:  # Contact checkboxes
                boxes = s.salesforce.model_copy(update={**none, "fields": s.salesforce.fields})
                out.append(Target("salesforce", conn, boxes, boxes.keys()))
            if s.salesforce.consent_records:  # ContactPointTypeConsent: a system of its own
                records = s.salesforce.model_copy(
                    update={**none, "consent_records": s.salesforce.consent_records}
                )
                out.append(Target(SALESFORCE_RECORDS, conn, records, records.keys()))
            if s.salesforce.individual:  # Individual privacy checkboxes: a system of its own
                flags = s.salesforce.model_copy(
                    update={**none, "individual": s.salesforce.individual}
                )
                out.append(Target(SALESFORCE_INDIVIDUAL, conn, flags, flags.keys()))
        return out

    def _emails_of(self, customer_ids: Sequence[str]) -> dict[str, str]:
        source = self.connector(self.settings.b2connect)
        if not isinstance(source, SupportsFetch):
            return {}
        found = source.fetch("customers", list(customer_ids))
        return {
            key: str(rec.fields.get("email"))
            for key, rec in found.items()
            if isinstance(rec.fields.get("email"), str) and rec.fields.get("email")
        }

    # ---- one run

    def run(self) -> ConsentSummary:
        """Read, decide, propagate, then act on pipelines; never raises for one system."""
        summary = ConsentSummary()
        applied = Applied()
        targets = self.targets()
        for target in targets:
            if applied.stopped:
                break
            try:
                self.reader.read(target.system, _pages(target), applied, self.stop)
            except ConnectorError as exc:
                summary.errors.append(f"reading {target.system}: {exc.message}")
                log.warning("consent.read_failed", system=target.system, code=exc.code)
        summary.facts = dict(applied.facts)
        summary.decisions = applied.decisions
        if applied.stopped:
            # what to write where is worked out from the stored decisions (the next run
            # propagates it); who withdrew is known only from the facts read now: archive them
            self._archive(applied, summary)
            log.info("consent.stopped", facts=sum(applied.facts.values()))
            return summary
        outcome = Outcome()
        Propagator(
            db=self.db,
            tenant_id=self.tenant_id,
            audit_keys=self.audit_keys,
            clock=self.clock,
            emails_of=self._emails_of,
        ).run(targets, applied, outcome)
        summary.applied, summary.not_applied = outcome.applied, outcome.not_applied
        summary.absent, summary.failed = outcome.absent, outcome.failed
        summary.reasons, summary.errors = outcome.reasons, summary.errors + outcome.errors
        self._pipelines(applied, summary)
        log.info(
            "consent.sync_done",
            decisions=summary.decisions,
            applied=sum(summary.applied.values()),
            errors=len(summary.errors),
        )
        return summary

    def _pipelines(self, applied: Applied, summary: ConsentSummary) -> None:
        if not self.pipelines:
            return
        self._archive(applied, summary)
        if self.push is not None:
            summary.released = release_held(
                self.pipelines,
                source=lambda pipe: self.connector(pipe.b2connect.connection),
                push=self.push,
                db=self.db,
            )

    def _archive(self, applied: Applied, summary: ConsentSummary) -> None:
        """Archive the records of the people who withdrew (pipelines with ``archive``)."""
        if not self.pipelines:
            return
        with ExitStack() as stack:
            for name in sorted(p.name for p in self.pipelines if p.on_withdraw == "archive"):
                stack.enter_context(self.pipeline_lock(name))
            summary.archived = archive_withdrawn(
                self.pipelines,
                applied.withdrawn,
                self._customers(applied),
                connector=self.connector,
                db=self.db,
                tenant_id=self.tenant_id,
                audit_keys=self.audit_keys,
                now=self.clock(),
                crm_types=self.crm_types,
            )

    def _customers(self, applied: Applied) -> dict[int, str]:
        subjects = sorted({s for s, _, _ in applied.withdrawn})
        with self.db.connect() as conn:
            refs = subject_refs(conn, subjects)
        return {s: c for s, c in refs.items() if c} | applied.customers
