"""Support cases of contacts: Salesforce ``Case`` rows by ``ContactId``.

One SOQL query per chunk of contact ids (``ContactId IN (...)``, kept under the URI limit),
selecting only ``Id, ContactId, IsClosed, CreatedDate``: no subject or description. Deleted
cases (in the Recycle Bin) are not returned by ``query``.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import Touchpoint
from connectors.salesforce._api import Api
from connectors.salesforce._read import all_rows
from connectors.salesforce._values import parse_timestamp
from connectors.salesforce.soql import in_clauses, select

__all__ = ["CASES_PER_QUERY", "CASE_FIELDS", "read_cases"]

CASE_FIELDS = ("Id", "ContactId", "IsClosed", "CreatedDate")
_CHARS = 9000
#: 18-character contact ids one ``ContactId IN (...)`` of ``_CHARS`` holds (22 characters
#: each, quoted with their separator): a read of this many ids is one query
CASES_PER_QUERY = 400


def read_cases(api: Api, crm_ids: Sequence[str]) -> dict[str, list[Touchpoint]]:
    """``{Contact id: its cases}`` of the contacts among ``crm_ids`` that have any."""
    out: dict[str, list[Touchpoint]] = {}
    ids = list(dict.fromkeys(str(i) for i in crm_ids))
    head = select(CASE_FIELDS, "Case")
    for _chunk, condition in in_clauses("ContactId", ids, max_chars=_CHARS):
        for row in api.call(all_rows(f"{head} WHERE {condition}")):
            raw = row.get("CreatedDate")
            if not isinstance(raw, str) or not row.get("ContactId"):
                continue
            created = parse_timestamp(raw)
            point = Touchpoint("ticket", str(row["Id"]), created, closed=bool(row.get("IsClosed")))
            out.setdefault(str(row["ContactId"]), []).append(point)
    return out
