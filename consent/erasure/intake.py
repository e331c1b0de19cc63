"""Erasure intake: check a request, find the person, merge duplicates, tombstone, plan steps.

Filing a request does at once what needs no other system: the person's local state is
purged and their identifiers tombstoned in the same transaction as the request, so no sync
can bring them back from that moment. The other systems' steps are then run (and retried)
by :mod:`consent.erasure.process`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog

from audit import KeyRing
from consent.erasure.local import find_people, purge_local, tenants_of
from consent.erasure.model import NOT_FOUND, Origin, StepStatus, SubjectIds, deadline, is_email
from consent.erasure.plan import PlannedStep, file_acknowledgement, plan_steps
from consent.erasure.store import (
    insert_request,
    refresh_request,
    requests_table,
    seal_key,
    step_event,
    steps_table,
    subjects_table,
    write_events,
)
from consent.erasure.tombstones import tombstone_hash, write_tombstones
from mapping import normalise_email
from mapping.config import Config
from store import begin_write
from store.models import ErasureStatus, metadata
from sync.hashing import FieldHasher

__all__ = ["CustomerFetcher", "ErasureDesk", "Intake", "tenants_of"]

log = structlog.get_logger(__name__)
_tombs = metadata.tables["tombstones"]
_OPEN = (ErasureStatus.PENDING.value, ErasureStatus.IN_PROGRESS.value)
#: (B2Connect connection, customer id) -> the customer's fields, or None when there is none
CustomerFetcher = Callable[[str, str], dict[str, Any] | None]
#: run inside the transaction that records a request's outcome (clears an inbox row)
Settle = Callable[[sa.Connection], None]


@dataclass(frozen=True)
class Intake:
    """What became of a request: ``filed``, ``merged``, ``already_erased`` (fine) or
    ``rejected``, ``unknown_tenant``, ``unknown_subject`` (nothing to do, said why)."""

    status: str
    message: str
    request_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("filed", "merged", "already_erased")


@dataclass
class ErasureDesk:
    """Takes erasure requests in from the CLI, webhooks, feeds and retention."""

    config: Config
    db: sa.Engine
    hasher: FieldHasher
    keys: KeyRing | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    fetch_customer: CustomerFetcher | None = None

    def file(
        self,
        ids: SubjectIds,
        *,
        tenant: str | None = None,
        origin: Origin = Origin.OPERATOR,
        external_ref: str | None = None,
        requested_at: datetime | None = None,
        settle: Settle | None = None,
    ) -> Intake:
        """File (or merge) one request; never raises for bad input, says why instead.

        ``requested_at`` is when the person asked (a shop's request): the 30 days run from it.
        ``settle`` runs in the transaction that records the outcome, whatever it is.
        """
        settle = settle or _no_settle
        refused = self._refusal(ids)
        tenants = tenants_of(self.config)
        chosen = refused or self._tenant(tenant, tenants)
        if isinstance(chosen, Intake):
            with self._begin() as conn:
                settle(conn)
            return chosen
        if chosen not in tenants:
            known = ", ".join(sorted(tenants)) or "none"
            message = f"tenant {chosen} is not configured (known: {known})"
            return self._failed(chosen, ids, "unknown_tenant", message, settle)
        with self.db.connect() as conn:
            found = find_people(conn, self.config, self.hasher, ids, chosen)
        linked = found != ids  # the links know more about this person
        if found.customer_id and not found.email and self.fetch_customer is not None:
            record = self.fetch_customer(tenants[chosen], found.customer_id)
            if record is None and not linked:
                message = f"customer {found.customer_id} is not known to B2Connect or to b2sync"
                return self._failed(chosen, ids, "unknown_subject", message, settle)
            if record is not None and isinstance(record.get("email"), str) and record["email"]:
                found.email = normalise_email(record["email"])
        return self._file(
            chosen, tenants[chosen], ids, found, origin, external_ref, requested_at, settle
        )

    @staticmethod
    def _refusal(ids: SubjectIds) -> Intake | None:
        if ids.empty:
            return Intake("rejected", "give an email or a customer id")
        if ids.email and not is_email(ids.email):
            return Intake("rejected", "the email given is not a valid address (name@domain.tld)")
        return None

    def _tenant(self, tenant: str | None, tenants: dict[str, str]) -> str | Intake:
        if tenant is not None:
            return tenant.strip().lower()
        if len(tenants) == 1:
            return next(iter(tenants))
        if not tenants:
            return Intake("rejected", "no B2Connect connection is configured")
        return Intake("rejected", "several tenants are configured; pass --tenant")

    def _begin(self) -> AbstractContextManager[sa.Connection]:
        return begin_write(self.db)

    def _failed(
        self, tenant: str, ids: SubjectIds, status: str, message: str, settle: Settle
    ) -> Intake:
        """Record a request that cannot be carried out, with its reason (no retry needed)."""
        now = self.clock()
        ref = self._hashes(ids)[0][:16] if not ids.empty else "unknown"
        with self._begin() as conn:
            settle(conn)
            rid = conn.execute(
                requests_table.insert().values(
                    tenant_id=tenant,
                    subject_ref=f"sub-{ref}",
                    requested_at=now,
                    due_at=deadline(now),
                    status=ErasureStatus.FAILED,
                    system_status={},
                    attempts=0,
                    last_error=f"{status.replace('_', ' ')}: {message}",
                    completed_at=None,
                )
            ).inserted_primary_key
        log.warning("erasure.not_filed", request=rid, reason=status)
        return Intake(status, message, int(rid[0]) if rid else None)

    def _hashes(self, ids: SubjectIds) -> list[str]:
        return [tombstone_hash(self.hasher, kind, value) for kind, value in ids.kinds()]

    def _file(
        self,
        tenant: str,
        b2connect: str,
        given: SubjectIds,
        found: SubjectIds,
        origin: Origin,
        external_ref: str | None,
        requested_at: datetime | None,
        settle: Settle,
    ) -> Intake:
        now = self.clock()
        hashes = self._hashes(found)
        shop_ref = external_ref if origin is Origin.B2CONNECT else None
        with self._begin() as conn:
            settle(conn)
            open_id = _open_request(conn, tenant, hashes)
            if open_id is not None:
                self._acknowledge(conn, tenant, b2connect, found, shop_ref, open_id, now)
                return self._merge(conn, b2connect, open_id, found, hashes, now)
            tombed = _tombstoned(conn, hashes)
            if len(tombed) == len(hashes) and found == given:
                request = next(iter(tombed.values()))
                self._acknowledge(conn, tenant, b2connect, found, shop_ref, request, now)
                return Intake(
                    "already_erased", f"this person was already erased (request {request})", request
                )
            asked = min(requested_at, now) if requested_at is not None else now
            rid = self._create(
                conn, tenant, b2connect, found, hashes, origin, external_ref, now, asked
            )
        log.info("erasure.filed", request=rid, origin=origin.value)
        return Intake("filed", f"erasure request {rid} filed", rid)

    def _acknowledge(
        self,
        conn: sa.Connection,
        tenant: str,
        b2connect: str,
        ids: SubjectIds,
        shop_ref: str | None,
        erased_by: int | None,
        now: datetime,
    ) -> None:
        if shop_ref is not None:
            file_acknowledgement(
                conn, seal_key(self.hasher), tenant=tenant, b2connect=b2connect, ids=ids,
                shop_ref=shop_ref, erased_by=erased_by, now=now,
            )  # fmt: skip

    def _merge(
        self,
        conn: sa.Connection,
        b2connect: str,
        rid: int,
        found: SubjectIds,
        hashes: list[str],
        now: datetime,
    ) -> Intake:
        row = conn.execute(
            sa.select(subjects_table).where(subjects_table.c.request_id == rid)
        ).one()
        ids = SubjectIds.unseal(seal_key(self.hasher), rid, row.sealed)
        ids.merge(found)
        conn.execute(
            subjects_table.update()
            .where(subjects_table.c.request_id == rid)
            .values(
                sealed=ids.seal(seal_key(self.hasher), rid),
                hashes=sorted(set(row.hashes) | set(hashes)),
            )
        )
        write_tombstones(conn, self.hasher, ids, request_id=rid, erased_at=now)
        tenant = conn.execute(
            sa.select(requests_table.c.tenant_id).where(requests_table.c.id == rid)
        ).scalar_one()
        purge_local(conn, self.config, ids, hasher=self.hasher, tenant=tenant)
        event = step_event(
            tenant_id=tenant,
            request_id=rid,
            system="intake",
            kind="b2sync",
            status="merged",
            detail="a duplicate request was merged into this one",
            subject=ids.customer_id or ids.email,
            occurred_at=now,
        )
        write_events(conn, self.keys, [event], now)
        return Intake("merged", f"merged into open erasure request {rid}", rid)

    def _create(
        self,
        conn: sa.Connection,
        tenant: str,
        b2connect: str,
        ids: SubjectIds,
        hashes: list[str],
        origin: Origin,
        external_ref: str | None,
        now: datetime,
        asked: datetime,
    ) -> int:
        rid = insert_request(
            conn,
            tenant=tenant,
            subject_ref=f"sub-{hashes[0][:16]}",
            asked=asked,
            ids=ids,
            seal=seal_key(self.hasher),
            hashes=hashes,
            origin=origin,
            external_ref=external_ref,
            now=now,
        )
        write_tombstones(conn, self.hasher, ids, request_id=rid, erased_at=now)
        purged = purge_local(conn, self.config, ids, hasher=self.hasher, tenant=tenant)
        detail = ", ".join(f"{n} {table}" for table, n in sorted(purged.items()))
        subject = ids.customer_id or ids.email
        events = [
            step_event(
                tenant_id=tenant,
                request_id=rid,
                system="intake",
                kind="b2sync",
                status="received",
                detail=f"origin {origin.value}",
                subject=subject,
                occurred_at=now,
            )
        ]
        for system, kind, position, planned, note in self._plan(b2connect, origin, external_ref):
            status, text = planned, note
            if kind == "local" and any(purged.values()):
                status, text = StepStatus.DONE, f"purged {detail}; tombstoned"
            elif kind == "local":
                status, text = StepStatus.DONE, f"{NOT_FOUND} b2sync kept nothing; tombstoned"
            conn.execute(
                steps_table.insert().values(
                    request_id=rid,
                    system=system,
                    kind=kind,
                    position=position,
                    status=status.value,
                    attempts=0,
                    next_attempt_at=None,
                    detail=text,
                    updated_at=now,
                    completed_at=now if status in (StepStatus.DONE, StepStatus.SKIPPED) else None,
                )
            )
            if status is not StepStatus.PENDING:
                events.append(
                    step_event(
                        tenant_id=tenant,
                        request_id=rid,
                        system=system,
                        kind=kind,
                        status=status.value,
                        detail=text,
                        subject=subject,
                        occurred_at=now,
                    )
                )
        refresh_request(conn, rid, now)
        write_events(conn, self.keys, events, now)
        return rid

    def _plan(self, b2connect: str, origin: Origin, external_ref: str | None) -> list[PlannedStep]:
        return plan_steps(self.config, b2connect, origin, external_ref, audit=self.keys is not None)


def _no_settle(conn: sa.Connection) -> None:
    del conn


def _open_request(conn: sa.Connection, tenant: str, hashes: Sequence[str]) -> int | None:
    wanted = set(hashes)
    rows = conn.execute(
        sa.select(subjects_table.c.request_id, subjects_table.c.hashes)
        .join(requests_table, requests_table.c.id == subjects_table.c.request_id)
        .where(requests_table.c.tenant_id == tenant, requests_table.c.status.in_(_OPEN))
    )
    for row in rows:
        if wanted & set(row.hashes or ()):
            return int(row.request_id)
    return None


def _tombstoned(conn: sa.Connection, hashes: Sequence[str]) -> dict[str, int | None]:
    rows = conn.execute(
        sa.select(_tombs.c.subject_hash, _tombs.c.erasure_request_id).where(
            _tombs.c.subject_hash.in_(list(hashes))
        )
    )
    return {row.subject_hash: row.erasure_request_id for row in rows}
