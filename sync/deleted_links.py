"""Links of deleted records: kept (with ``deleted_at``/``deleted_in``) so a restore on either
side re-links to the same CRM record instead of creating a duplicate.

A marked link still holds its CRM id and last-synced hashes; it no longer counts as a live
link for the delete breaker's population. Pull and push engines share these helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from store.models import metadata

__all__ = ["DeletedLink", "Side", "clear_deleted", "deleted_links", "mark_deleted"]

Side = Literal["b2connect", "crm"]
_links = metadata.tables["links"]
_CHUNK = 500


@dataclass(frozen=True)
class DeletedLink:
    """A link whose record was deleted on one side and carried across by b2sync."""

    key: str
    crm_id: str | None
    deleted_in: str
    deleted_at: datetime


def _chunks(keys: Sequence[str]) -> list[list[str]]:
    items = sorted(set(keys))
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def deleted_links(
    conn: sa.Connection, pipeline: str, keys: Sequence[str]
) -> dict[str, DeletedLink]:
    """The marked links among ``keys`` (by B2Connect key)."""
    out: dict[str, DeletedLink] = {}
    for chunk in _chunks(keys):
        rows = conn.execute(
            sa.select(
                _links.c.b2connect_key, _links.c.crm_id, _links.c.deleted_in, _links.c.deleted_at
            ).where(
                _links.c.pipeline == pipeline,
                _links.c.b2connect_key.in_(chunk),
                _links.c.deleted_at.is_not(None),
            )
        )
        for key, crm_id, side, at in rows:
            out[key] = DeletedLink(key, crm_id, str(side or "b2connect"), at)
    return out


def mark_deleted(
    conn: sa.Connection, pipeline: str, keys: Sequence[str], side: Side, now: datetime
) -> None:
    """Mark the links of ``keys`` as deleted on ``side`` (links that are marked stay as they are)."""
    for chunk in _chunks(keys):
        conn.execute(
            sa.update(_links)
            .where(
                _links.c.pipeline == pipeline,
                _links.c.b2connect_key.in_(chunk),
                _links.c.deleted_at.is_(None),
            )
            .values(deleted_at=now, deleted_in=side)
        )


def clear_deleted(conn: sa.Connection, pipeline: str, keys: Sequence[str]) -> None:
    """Re-link: the records of ``keys`` live again on both sides."""
    for chunk in _chunks(keys):
        conn.execute(
            sa.update(_links)
            .where(_links.c.pipeline == pipeline, _links.c.b2connect_key.in_(chunk))
            .values(deleted_at=None, deleted_in=None)
        )
