"""The contacts of companies: v4 association batch reads, then a batch read of the contacts
(both 100 ids a call), for records created in the shop from a marked company."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.records import Record

from ._api import HubSpotApi
from ._read import _record, _row_ts
from ._types import BATCH_LIMIT

__all__ = ["members"]

ASSOC_READ = "POST /crm/v4/associations/{from_type}/{to_type}/batch/read"
BATCH_READ = "POST /crm/v3/objects/{object_type}/batch/read"
MODIFIED = "lastmodifieddate"


def _chunks(values: Sequence[str], size: int) -> list[list[str]]:
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def members(
    api: HubSpotApi,
    company_object: str,
    company_ids: Sequence[str],
    contact_object: str,
    properties: Sequence[str],
) -> dict[str, list[Record]]:
    """Each company's live associated contacts with ``properties`` (company id -> records)."""
    links: dict[str, list[str]] = {cid: [] for cid in company_ids}
    for chunk in _chunks(sorted(set(company_ids)), BATCH_LIMIT):
        body = {"inputs": [{"id": c} for c in chunk]}
        data, _ = api.call_json(
            ASSOC_READ, api.associations.get_page_with_http_info, company_object,
            contact_object, body,
        )  # fmt: skip
        for row in data.get("results") or []:
            source = str((row.get("from") or {}).get("id") or "")
            for target in row.get("to") or []:
                links.setdefault(source, []).append(str(target["toObjectId"]))
    wanted = sorted({c for ids in links.values() for c in ids})
    found: dict[str, Record] = {}
    fields = sorted({*properties, MODIFIED})
    for chunk in _chunks(wanted, BATCH_LIMIT):
        read: dict[str, Any] = {"inputs": [{"id": c} for c in chunk], "properties": fields}
        read["propertiesWithHistory"] = []
        data, _ = api.call_json(
            BATCH_READ, api.batch.read_with_http_info, contact_object, read, archived=False
        )
        for row in data.get("results") or []:
            found[str(row["id"])] = _record(contact_object, row, _row_ts(row, MODIFIED))
    return {c: [found[i] for i in ids if i in found] for c, ids in links.items()}
