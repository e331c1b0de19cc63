"""The erasure inbox: webhook-borne requests kept in the store until they are filed.

The webhook endpoint writes each request here (sealed, in the transaction that records the
delivery's replay receipts) before it answers 2xx; the erasure task files them one by one, and
each row is deleted in the very transaction that files its request. A crash, a restart or a
failed tick therefore neither loses a request nor files one twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import sqlalchemy as sa
import structlog
from cryptography.exceptions import InvalidTag

from connectors.errors import ConnectorError
from consent.erasure.intake import ErasureDesk, Intake
from consent.erasure.model import Origin, SubjectIds
from consent.erasure.sources import IntakeItem
from store.models import metadata

__all__ = ["drain_inbox", "inbox_size", "put_in_inbox"]

log = structlog.get_logger(__name__)
_inbox = metadata.tables["erasure_inbox"]


def put_in_inbox(
    conn: sa.Connection, seal: bytes, items: Iterable[IntakeItem], now: datetime
) -> int:
    """Store ``items`` (identifiers sealed, bound to the row id) in the caller's transaction."""
    count = 0
    for item in items:
        inserted = conn.execute(
            _inbox.insert().values(
                tenant_id=item.tenant,
                origin=item.origin.value,
                external_ref=item.external_ref,
                requested_at=item.requested_at,
                sealed=None,
                received_at=now,
            )
        ).inserted_primary_key
        assert inserted is not None
        rid = int(inserted[0])
        conn.execute(
            _inbox.update().where(_inbox.c.id == rid).values(sealed=item.ids.seal(seal, rid))
        )
        count += 1
    return count


def inbox_size(db: sa.Engine) -> int:
    """How many requests wait to be filed."""
    with db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(_inbox)).scalar_one())


def drain_inbox(desk: ErasureDesk, seal: bytes) -> list[Intake]:
    """File every waiting request, oldest first; a request that cannot be filed now (a system
    is down) stays for the next tick."""
    with desk.db.connect() as conn:
        rows = list(conn.execute(sa.select(_inbox).order_by(_inbox.c.id)))
    out = []
    for row in rows:
        try:
            ids = SubjectIds.unseal(seal, row.id, row.sealed or b"")
        except (InvalidTag, ValueError):
            log.error("erasure.inbox_unreadable", item=row.id)
            continue
        try:
            intake = desk.file(
                ids,
                tenant=row.tenant_id,
                origin=Origin(row.origin),
                external_ref=row.external_ref,
                requested_at=row.requested_at,
                settle=_remove(row.id),
            )
        except ConnectorError as exc:
            log.warning("erasure.inbox_retry", item=row.id, code=exc.code)
            continue
        if not intake.ok:
            log.warning("erasure.intake_refused", origin=row.origin, status=intake.status)
        out.append(intake)
    return out


def _remove(item_id: int) -> Callable[[sa.Connection], None]:
    def settle(conn: sa.Connection) -> None:
        conn.execute(_inbox.delete().where(_inbox.c.id == item_id))

    return settle
