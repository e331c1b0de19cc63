"""Run due erasure steps: each system's erase call, retried with backoff while it is down.

A step runs when it is due (``next_attempt_at`` passed) and every step of a lower position
of its request has ended well (done or skipped). Outcomes:

* the system erased the person → ``done``;
* transient trouble (5xx, 429, timeouts, budget) → ``retrying`` at now + backoff (or the
  system's ``Retry-After`` / budget reset);
* the system refused (permissions, a rejection, an unknown subject) → ``failed`` with the
  reason, retried on the slow backoff until :data:`MAX_ATTEMPTS`, then left for an operator.

The ``audit`` step shreds the person's audit key last, so the trail of the erasure itself is
written under the key before it goes; their values then read ``[erased]``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog

from audit import KeyRing, LegalHoldError, shred
from connectors.base import Connector
from connectors.errors import BudgetExhausted, ConnectorError, Retriable
from connectors.records import ErasureResult, Subject, WriteItem
from connectors.salesforce import SalesforceConnector
from consent.erasure.model import MAX_ATTEMPTS, NOT_FOUND, StepStatus, SubjectIds, backoff
from consent.erasure.related import salesforce_policy, unreachable_orders
from consent.erasure.store import (
    StepRow,
    load_subject,
    refresh_request,
    requests_table,
    step_event,
    steps_of,
    steps_table,
    update_step,
    write_events,
)
from mapping.config import Config
from store import begin_write
from store.models import ErasureStatus
from sync.hashing import FieldHasher
from sync.safe_errors import safe_error

__all__ = ["ErasureProcessor", "StepOutcome"]

log = structlog.get_logger(__name__)
_RUNNABLE = (StepStatus.PENDING.value, StepStatus.RETRYING.value, StepStatus.FAILED.value)
_OPEN = (ErasureStatus.PENDING.value, ErasureStatus.IN_PROGRESS.value, ErasureStatus.FAILED.value)


@dataclass(frozen=True)
class StepOutcome:
    """What one attempt of one step did."""

    request_id: int
    system: str
    status: StepStatus
    detail: str
    next_attempt_at: datetime | None = None


@dataclass
class ErasureProcessor:
    """Runs the due steps of open erasure requests against the connected systems."""

    db: sa.Engine
    hasher: FieldHasher
    connector: Callable[[str], Connector]
    keys: KeyRing | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: the lock to hold around a connection's calls (the daemon's per-connection locks)
    guard: Callable[[str], AbstractContextManager[object]] = lambda _name: nullcontext()
    #: the configuration whose ``erasure:`` policy applies (None: the Contact only)
    config: Config | None = None

    def due(self, request_id: int | None = None, *, force: bool = False) -> list[StepRow]:
        """Steps that may run now, in request and position order."""
        now = self.clock()
        query = (
            sa.select(steps_table.c.request_id)
            .join(requests_table, requests_table.c.id == steps_table.c.request_id)
            .where(
                requests_table.c.status.in_(_OPEN),
                steps_table.c.status.in_(_RUNNABLE),
            )
            .distinct()
        )
        if request_id is not None:
            query = query.where(steps_table.c.request_id == request_id)
        out: list[StepRow] = []
        with self.db.connect() as conn:
            for rid in sorted(r for (r,) in conn.execute(query)):
                out.extend(_ready(steps_of(conn, rid), now, force))
        return out

    def process(self, request_id: int | None = None, *, force: bool = False) -> list[StepOutcome]:
        """Run every due step once (``force``: also those waiting for their next attempt)."""
        outcomes: list[StepOutcome] = []
        for _ in range(4):  # a step done can make the next position ready at once
            steps = self.due(request_id, force=force)
            if not steps:
                break
            outcomes.extend(self._run(step) for step in steps)
            force = False
        return outcomes

    # ------------------------------------------------------------------ one step

    def _run(self, step: StepRow) -> StepOutcome:
        with self.db.connect() as conn:
            loaded = load_subject(conn, self.hasher, step.request_id)
        if loaded is None:
            return self._record(step, StepStatus.FAILED, "the request's identifiers are gone", None)
        ids, origin, external_ref = loaded
        if step.kind == "audit":
            return self._shred(step, ids)
        try:
            with self.guard(step.system):
                status, detail = self._call(step, ids, origin, external_ref)
        except BudgetExhausted as exc:
            return self._record(step, StepStatus.RETRYING, exc.message, exc.resume_at)
        except Retriable as exc:
            wait = backoff(step.attempts + 1, exc.retry_after)
            return self._record(step, StepStatus.RETRYING, exc.message, self.clock() + wait)
        except ConnectorError as exc:
            return self._failed(step, f"{type(exc).__name__}: {exc.message}")
        except Exception as exc:  # a bug in one system's step must not stop the others
            log.exception("erasure.step_crashed", step=step.system, error=type(exc).__name__)
            return self._failed(step, f"internal error {type(exc).__name__}")
        if status is StepStatus.FAILED:
            return self._failed(step, detail)
        return self._record(step, status, detail, None)

    def _call(
        self, step: StepRow, ids: SubjectIds, origin: str, external_ref: str | None
    ) -> tuple[StepStatus, str]:
        if not _identifiable(step.kind, ids, external_ref):
            return StepStatus.SKIPPED, f"nothing identifies this person in {step.kind}"
        connector = self.connector(step.system)
        subject = Subject(
            email=ids.email,
            b2connect_id=ids.customer_id,
            crm_ids=dict(ids.crm_ids),
            request_id=str(step.request_id),
        )
        if step.kind == "b2connect" and origin == "b2connect" and external_ref:
            note = f"erased by b2sync (request {step.request_id}) in every connected CRM"
            item = WriteItem(key=external_ref, payload={"status": "completed", "note": note})
            result = connector.write("erasures", [item])[0]
            if result.ok:
                return StepStatus.DONE, "B2Connect told the request is completed; it erased"
            error = result.error
            if error is not None and error.code == "CONFLICT":
                return StepStatus.DONE, "B2Connect's request was already final"
            message = f"B2Connect refused ({error.code}: {error.message})" if error else "refused"
            if error is not None and error.retriable:
                raise Retriable(message)
            return StepStatus.FAILED, message
        result_of = self._erase(connector, step, subject)
        if result_of.done:
            detail = result_of.detail or "erased"
            if result_of.found is False and not detail.startswith(NOT_FOUND):
                detail = f"{NOT_FOUND} {detail}"
            return StepStatus.DONE, detail
        return StepStatus.FAILED, result_of.detail or "the system did not erase"

    def _erase(self, connector: Connector, step: StepRow, subject: Subject) -> ErasureResult:
        """The system's erase; Salesforce's with the ``erasure:`` policy (orders, consent)."""
        if self.config is None or not isinstance(connector, SalesforceConnector):
            return connector.erase(subject)
        result = connector.erase(subject, related=salesforce_policy(self.config, step.system))
        missed = unreachable_orders(self.config, step.system)
        if not missed:
            return result
        note = f"orders of {', '.join(missed)} kept: no Contact lookup field in the mapping"
        return replace(result, detail=f"{result.detail}; {note}" if result.detail else note)

    def _shred(self, step: StepRow, ids: SubjectIds) -> StepOutcome:
        if self.keys is None:
            return self._record(step, StepStatus.SKIPPED, "audit trail is off", None)
        now = self.clock()
        subjects = [s for s in (ids.customer_id, ids.email) if s]
        try:
            with self._begin() as conn:
                tenant = _tenant(conn, step.request_id)
                events = [
                    step_event(
                        tenant_id=tenant, request_id=step.request_id, system=step.system,
                        kind=step.kind, status=StepStatus.DONE.value, attempt=step.attempts + 1,
                        detail=f"{len(subjects)} audit key(s) shredded", subject=subjects[0]
                        if subjects else None,
                    )
                ]  # fmt: skip
                write_events(conn, self.keys, events, now)
                for subject in subjects:
                    shred(conn, self.keys, subject, now=now)
                update_step(
                    conn, step, status=StepStatus.DONE, now=now,
                    detail=f"{len(subjects)} audit key(s) shredded: their values read [erased]",
                )  # fmt: skip
                refresh_request(conn, step.request_id, now)
        except LegalHoldError:
            return self._record(
                step, StepStatus.SKIPPED, "under legal hold: audit values kept until it ends", None
            )
        return StepOutcome(step.request_id, step.system, StepStatus.DONE, "audit keys shredded")

    def _failed(self, step: StepRow, detail: str) -> StepOutcome:
        attempts = step.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            return self._record(step, StepStatus.FAILED, f"{detail} (gave up)", None)
        retry_at = self.clock() + max(backoff(attempts), backoff(6))
        return self._record(step, StepStatus.FAILED, detail, retry_at)

    def _begin(self) -> AbstractContextManager[sa.Connection]:
        return begin_write(self.db)

    def _record(
        self, step: StepRow, status: StepStatus, detail: str, next_at: datetime | None
    ) -> StepOutcome:
        """The step's new state, the request's roll-up and the audit event: one transaction.
        Vendor messages may quote the person's values: ``detail`` is redacted before it is
        stored, audited or served."""
        detail = safe_error(detail) or ""
        now = self.clock()
        with self._begin() as conn:
            loaded = load_subject(conn, self.hasher, step.request_id)
            subject = None if loaded is None else (loaded[0].customer_id or loaded[0].email)
            update_step(conn, step, status=status, detail=detail, now=now, next_attempt_at=next_at)
            refresh_request(conn, step.request_id, now)
            event = step_event(
                tenant_id=_tenant(conn, step.request_id), request_id=step.request_id,
                system=step.system, kind=step.kind, status=status.value, detail=detail,
                subject=subject, attempt=step.attempts + 1,
            )  # fmt: skip
            write_events(conn, self.keys, [event], now)
        log.info(
            "erasure.step", request=step.request_id, step=step.system, status=status.value,
            next_attempt_at=next_at.isoformat() if next_at else None,
        )  # fmt: skip
        return StepOutcome(step.request_id, step.system, status, detail, next_at)


def _ready(steps: list[StepRow], now: datetime, force: bool) -> list[StepRow]:
    """Runnable steps whose turn has come: lower positions all done or skipped."""
    out = []
    for step in steps:
        if step.status.value not in _RUNNABLE:
            continue
        if step.status is StepStatus.FAILED and step.next_attempt_at is None and not force:
            continue  # gave up: an operator retries it by hand (erasure process --force)
        before = [s for s in steps if s.position < step.position]
        if any(s.status not in (StepStatus.DONE, StepStatus.SKIPPED) for s in before):
            continue
        if not force and step.next_attempt_at is not None and step.next_attempt_at > now:
            continue
        out.append(step)
    return out


def _identifiable(kind: str, ids: SubjectIds, external_ref: str | None) -> bool:
    """Whether ``kind`` can find the person from what the request knows."""
    if kind == "hubspot":
        return bool(ids.email or ids.crm_ids.get("hubspot"))
    if kind == "salesforce":
        return bool(ids.email or ids.customer_id or ids.crm_ids.get("salesforce"))
    if kind == "b2connect":
        return bool(ids.email or ids.customer_id or external_ref)
    return True


def _tenant(conn: sa.Connection, request_id: int) -> str:
    return str(
        conn.execute(
            sa.select(requests_table.c.tenant_id).where(requests_table.c.id == request_id)
        ).scalar_one()
    )
