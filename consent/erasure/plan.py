"""The steps of a new erasure request, and the one-step answer to a duplicate shop request."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from consent.erasure.model import Origin, StepStatus, SubjectIds
from consent.erasure.store import (
    insert_request,
    refresh_request,
    steps_table,
    subjects_table,
)
from mapping.config import Config

__all__ = ["PlannedStep", "file_acknowledgement", "plan_steps"]

#: (system, kind, position, status, detail)
PlannedStep = tuple[str, str, int, StepStatus, str | None]


def plan_steps(
    config: Config, b2connect: str, origin: Origin, external_ref: str | None, *, audit: bool
) -> list[PlannedStep]:
    """Local purge first; every CRM and B2Connect next (a shop's own request is answered
    after the CRMs); the audit keys last."""
    steps: list[PlannedStep] = [("local", "local", 0, StepStatus.PENDING, None)]
    crms = sorted(
        {
            p.crm.connection
            for p in config.pipelines
            if p.enabled and p.crm.connection in config.connections
        }
    )
    for name in crms:
        kind = config.connections[name].type
        if kind == "hubspot" and origin is Origin.HUBSPOT:
            steps.append((name, kind, 1, StepStatus.DONE, "deleted in HubSpot (the requester)"))
        elif kind in ("hubspot", "salesforce"):
            steps.append((name, kind, 1, StepStatus.PENDING, None))
    shop_first = origin is Origin.B2CONNECT and external_ref is not None
    steps.append((b2connect, "b2connect", 2 if shop_first else 1, StepStatus.PENDING, None))
    if audit:
        steps.append(("audit", "audit", 3, StepStatus.PENDING, None))
    else:
        steps.append(("audit", "audit", 3, StepStatus.SKIPPED, "audit trail is off"))
    return steps


def file_acknowledgement(
    conn: sa.Connection,
    seal: bytes,
    *,
    tenant: str,
    b2connect: str,
    ids: SubjectIds,
    shop_ref: str,
    erased_by: int | None,
    now: datetime,
) -> int | None:
    """A shop request for someone already being (or already) erased still needs its
    answer: a one-step request that tells B2Connect it is completed. None when that shop
    request was seen before (webhook and feed)."""
    known = conn.execute(
        sa.select(subjects_table.c.request_id).where(subjects_table.c.external_ref == shop_ref)
    ).first()
    if known is not None:
        return None
    rid = insert_request(
        conn,
        tenant=tenant,
        subject_ref=f"ack-{erased_by}",
        asked=now,
        ids=ids,
        seal=seal,
        hashes=[],
        origin=Origin.B2CONNECT,
        external_ref=shop_ref,
        now=now,
    )
    note = f"answers the shop's request; the person is erased by request {erased_by}"
    conn.execute(
        steps_table.insert().values(
            request_id=rid,
            system=b2connect,
            kind="b2connect",
            position=0,
            status=StepStatus.PENDING.value,
            attempts=0,
            next_attempt_at=None,
            detail=note,
            updated_at=now,
            completed_at=None,
        )
    )
    refresh_request(conn, rid, now)
    return rid
