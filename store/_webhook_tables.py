"""Tables of webhook intake: replay receipts and the erasure inbox.

``webhook_receipts`` holds a keyed digest of each accepted delivery's signature and of each
signed event id until the replay window is over (then pruned), so a replay is refused even
after a restart. ``erasure_inbox`` holds every erasure request a webhook carried, sealed, from
before the webhook is answered until the erasure task filed it (the row goes in the same
transaction as the filing), so a crash or a failed tick loses none.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import SQLModel

from store._types import UTCDateTime, column, utc_now


class WebhookReceipt(SQLModel, table=True):
    """One accepted delivery (or signed event id), kept until ``expires_at``."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (sa.Index("ix_webhook_receipts_expires_at", "expires_at"),)

    #: ``<kind>:<sha256 hex>`` of the signature or the signed event id (never the body)
    key: str = column(sa.String(128), primary_key=True)
    source: str = column(sa.String(32))
    received_at: datetime = column(UTCDateTime(), default_factory=utc_now)
    expires_at: datetime = column(UTCDateTime())


class ErasureInboxItem(SQLModel, table=True):
    """An erasure request a webhook carried, waiting to be filed."""

    __tablename__ = "erasure_inbox"

    id: int | None = column(sa.Integer(), primary_key=True, default=None)
    #: the tenant of the connection that authenticated the webhook (never the payload's)
    tenant_id: str | None = column(sa.String(64), nullable=True, default=None)
    #: operator, b2connect, hubspot, salesforce
    origin: str = column(sa.String(32))
    external_ref: str | None = column(sa.String(255), nullable=True, default=None)
    requested_at: datetime | None = column(UTCDateTime(), nullable=True, default=None)
    #: AES-GCM of the identifiers' JSON, bound to the row id
    sealed: bytes | None = column(sa.LargeBinary(), nullable=True, default=None)
    received_at: datetime = column(UTCDateTime(), default_factory=utc_now)
