"""Removing records for good, with or without the "Bulk API Hard Delete" permission.

The first choice is a Bulk API 2.0 ``hardDelete`` job, which skips the Recycle Bin. A new org
grants that permission to no profile, and Salesforce then refuses the job; a record already in
the Recycle Bin answers ``ENTITY_IS_DELETED``. Either way the fallback is the documented pair:
a soft delete (``DELETE composite/sobjects``), then the SOAP API's ``emptyRecycleBin`` (the
REST API has no verb that empties the Recycle Bin; SOAP API Developer Guide,
"emptyRecycleBin()", developer.salesforce.com/docs/atlas.en-us.api.meta/api/
sforce_api_calls_emptyrecyclebin.htm). Which method removed each record is recorded.

Verification reads ``queryAll``, which keeps showing purged rows with ``IsDeleted = true``
"for some time. Typically this time is 24 hours" (same page): a deleted row whose removal
was confirmed counts as gone; a live row, or a deleted one nobody purged (still in the
Recycle Bin, restorable), does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import structlog
from simple_salesforce.api import Salesforce

from connectors.errors import Fatal
from connectors.records import WriteResult
from connectors.salesforce._api import Api
from connectors.salesforce._bulk import hard_delete
from connectors.salesforce._bulk_jobs import Polling
from connectors.salesforce._write import COLLECTION_SIZE, chunks, result_from

__all__ = [
    "GONE",
    "HARD_DELETE",
    "PURGE",
    "Removal",
    "delete_by_ids",
    "empty_recycle_bin",
    "remove_for_good",
    "still_there",
]

log = structlog.get_logger(__name__)

#: answers to a delete that mean the record is already out of the org's live data
GONE = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})
#: the erasure methods recorded per record
HARD_DELETE = "hardDelete"
PURGE = "delete+emptyRecycleBin"
_PURGE_CHUNK = 200  # emptyRecycleBin takes at most 200 ids
_SOAP_NS = "urn:partner.soap.sforce.com"
_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    f'xmlns:urn="{_SOAP_NS}">'
    "<soapenv:Header><urn:SessionHeader><urn:sessionId>{session}</urn:sessionId>"
    "</urn:SessionHeader></soapenv:Header>"
    "<soapenv:Body><urn:emptyRecycleBin>{ids}</urn:emptyRecycleBin></soapenv:Body>"
    "</soapenv:Envelope>"
)


@dataclass(slots=True)
class Removal:
    """Per record: the method that removed it for good, or why nothing did (code, message)."""

    methods: dict[str, str] = field(default_factory=dict)
    #: ids Salesforce answered ENTITY_IS_DELETED for: removed for good before this call
    already: set[str] = field(default_factory=set)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def gone(self) -> set[str]:
        """Every id confirmed removed for good, now or before."""
        return set(self.methods) | self.already

    def summary(self) -> str:
        """``"hardDelete"`` when one method removed all; ``"2 hardDelete, 1 delete+empty…"``."""
        counts: dict[str, int] = {}
        for method in self.methods.values():
            counts[method] = counts.get(method, 0) + 1
        if len(counts) == 1:
            return next(iter(counts))
        return ", ".join(f"{n} {m}" for m, n in sorted(counts.items()))


def delete_by_ids(api: Api, ids: Sequence[str]) -> dict[str, WriteResult]:
    """Soft-delete records by Id, 200 per call; results keyed by Id."""
    out: dict[str, WriteResult] = {}
    for chunk in chunks(list(ids), COLLECTION_SIZE):
        params = {"ids": ",".join(chunk), "allOrNone": "false"}

        def run(sf: Salesforce, p: dict[str, str] = params) -> Any:
            return sf.restful("composite/sobjects", params=p, method="DELETE")

        answer = api.call(run) or []
        for rid, raw in zip(chunk, answer, strict=False):
            result = result_from(rid, raw)
            if not result.ok and result.error and result.error.code in GONE:
                result = WriteResult.success(rid, rid)
            out[rid] = result
    return out


def _text(el: ET.Element, name: str) -> str:
    found = el.find(f"{{{_SOAP_NS}}}{name}")
    return (found.text or "").strip() if found is not None else ""


def _parse_purge(chunk: Sequence[str], status: int, text: str) -> dict[str, tuple[str, str]]:
    """Failures by id ("" code for a success) from an emptyRecycleBin answer."""
    try:
        root = ET.fromstring(text)  # noqa: S314 - Salesforce's own answer over verified TLS
    except ET.ParseError:
        return dict.fromkeys(chunk, ("SOAP_ERROR", f"unreadable SOAP answer (HTTP {status})"))
    fault = next((el for el in root.iter() if el.tag.endswith("faultstring")), None)
    if fault is not None or status != 200:
        message = (fault.text or "").strip() if fault is not None else f"HTTP {status}"
        return dict.fromkeys(chunk, ("SOAP_FAULT", message))
    out: dict[str, tuple[str, str]] = {}
    results = root.iter(f"{{{_SOAP_NS}}}result")
    for rid, el in zip(chunk, results, strict=False):
        if _text(el, "success") == "true":
            out[rid] = ("", "")
            continue
        err = el.find(f"{{{_SOAP_NS}}}errors")
        code = _text(err, "statusCode") if err is not None else "UNKNOWN"
        message = _text(err, "message") if err is not None else ""
        out[rid] = (code or "UNKNOWN", message)
    for rid in chunk:
        out.setdefault(rid, ("NO_RESULT", "emptyRecycleBin reported nothing for this record"))
    return out


def empty_recycle_bin(api: Api, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Purge ``ids`` from the Recycle Bin: by id, ("", "") or (code, message) of a failure."""
    out: dict[str, tuple[str, str]] = {}
    for chunk in chunks(list(ids), _PURGE_CHUNK):

        def run(sf: Salesforce, c: Sequence[str] = chunk) -> tuple[int, str]:
            body = _ENVELOPE.format(
                session=escape(sf.session_id),
                ids="".join(f"<urn:ids>{escape(rid)}</urn:ids>" for rid in c),
            )
            url = f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}"
            headers = {**sf.headers, "Content-Type": "text/xml", "SOAPAction": "emptyRecycleBin"}
            answer = sf.session.post(url, data=body.encode(), headers=headers, timeout=60)
            return answer.status_code, answer.text

        status, text = api.call(run)
        out.update(_parse_purge(chunk, status, text))
    return out


def _try_hard_delete(api: Api, sobject: str, ids: list[str], wait: Polling, out: Removal) -> None:
    try:
        result = hard_delete(api, sobject, ids, wait)
    except Fatal as exc:
        if exc.code == "INVALID_SESSION_ID":
            raise
        out.notes.append(f"hardDelete refused ({exc.code}): grant 'Bulk API Hard Delete'")
        log.warning("salesforce.hard_delete_refused", sobject=sobject, code=exc.code)
        return
    out.methods.update(dict.fromkeys(result.deleted, HARD_DELETE))


def remove_for_good(
    api: Api, sobject: str, ids: Sequence[str], recycled: Sequence[str], wait: Polling
) -> Removal:
    """Remove ``ids`` permanently (``recycled``: those already in the Recycle Bin)."""
    out = Removal()
    if not ids:
        return out
    binned = set(recycled)
    _try_hard_delete(api, sobject, [rid for rid in ids if rid not in binned], wait, out)
    rest = [rid for rid in ids if rid not in out.methods]
    soft = delete_by_ids(api, [rid for rid in rest if rid not in binned])
    for rid, result in soft.items():
        if not result.ok and result.error is not None:
            out.failed[rid] = (result.error.code, result.error.message)
    purged = empty_recycle_bin(api, [rid for rid in rest if rid not in out.failed])
    for rid, (code, message) in purged.items():
        if not code:
            out.methods[rid] = PURGE
        elif code == "ENTITY_IS_DELETED":
            out.already.add(rid)
        else:
            out.failed[rid] = (code, message)
    by_method: dict[str, list[str]] = {}
    for rid, method in out.methods.items():
        by_method.setdefault(method, []).append(rid)
    log.info(
        "salesforce.removed_for_good",
        sobject=sobject,
        ids_by_method=by_method,
        already_gone=sorted(out.already),
        failed=sorted(out.failed),
    )
    return out


def still_there(rows: dict[str, bool], removal: Removal) -> list[str]:
    """Ids ``queryAll`` still holds that count: live, or deleted but not confirmed purged."""
    return sorted(rid for rid, deleted in rows.items() if not deleted or rid not in removal.gone)
