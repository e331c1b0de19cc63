"""The create step's reads of the store: CRM duplicates already parked for a person."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from store.models import DeadLetterStatus, metadata

__all__ = ["DUPLICATE_IN_CRM", "parked_twins"]

#: dead-letter code of a CRM record whose identity another CRM record is linked to
DUPLICATE_IN_CRM = "DUPLICATE_IN_CRM"


def parked_twins(
    conn: sa.Connection, pipeline: str, crm_object: str, crm_ids: Sequence[str]
) -> dict[str, str | None]:
    """CRM id -> the modification time (ISO) of each pending ``DUPLICATE_IN_CRM`` dead letter
    among ``crm_ids``: unchanged since, the record is not offered to B2Connect again."""
    if not crm_ids:
        return {}
    table = metadata.tables["dead_letters"]
    rows = conn.execute(
        sa.select(table.c.record_key, table.c.payload).where(
            table.c.pipeline == pipeline,
            table.c.stream == crm_object,
            table.c.error_code == DUPLICATE_IN_CRM,
            table.c.status == DeadLetterStatus.PENDING,
            table.c.record_key.in_(sorted(set(crm_ids))),
        )
    )
    out: dict[str, str | None] = {}
    for key, payload in rows:
        stamp = payload.get("updated_at") if isinstance(payload, dict) else None
        out[str(key)] = str(stamp) if stamp else None
    return out
