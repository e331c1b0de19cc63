"""Deleting by B2Connect key and erasing a person (GDPR Art. 17).

Erasure finds the person's Contacts by email, B2Connect id or Salesforce id (``queryAll``,
so recycled ones count too), sets ``Individual.ShouldForget = true`` on their Individuals
first (a marker Salesforce itself does not act on), then removes the Contacts for good with
a Bulk API 2.0 ``hardDelete`` job, which skips the Recycle Bin. Contacts the hard delete could
not remove (no "Bulk API Hard Delete" permission, say) are at least soft-deleted. The result
is ``done`` only when ``queryAll`` finds nothing left.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from simple_salesforce.api import Salesforce

from connectors.errors import Fatal
from connectors.records import ErasureResult, Subject, WriteResult
from connectors.salesforce._api import Api
from connectors.salesforce._bulk import HardDeleted, hard_delete
from connectors.salesforce._read import lookup
from connectors.salesforce._write import COLLECTION_SIZE, chunks, result_from
from connectors.salesforce.soql import select, soql_identifier, soql_quote

__all__ = ["SYSTEM", "delete_by_ids", "delete_by_keys", "erase"]

log = structlog.get_logger(__name__)

SYSTEM = "salesforce"
_GONE = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})


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
            if not result.ok and result.error and result.error.code in _GONE:
                result = WriteResult.success(rid, rid)
            out[rid] = result
    return out


def delete_by_keys(api: Api, sobject: str, id_field: str, keys: Sequence[str]) -> list[WriteResult]:
    """Delete records by external id; a key with no record is already deleted (success)."""
    ids_by_key = lookup(api, sobject, id_field, keys)
    all_ids = [rid for ids in ids_by_key.values() for rid in ids]
    by_id = delete_by_ids(api, all_ids)
    out: list[WriteResult] = []
    for key in keys:
        ids = ids_by_key.get(key, [])
        failures = [by_id[rid] for rid in ids if rid in by_id and not by_id[rid].ok]
        if failures and failures[0].error is not None:
            err = failures[0].error
            out.append(WriteResult.failure(key, err.code, err.message, err.field, err.retriable))
        else:
            out.append(WriteResult.success(key, ids[0] if ids else None))
    log.info("salesforce.deleted", sobject=sobject, keys=len(keys), records=len(all_ids))
    return out


def _match(subject: Subject, id_field: str) -> str | None:
    conditions = []
    if subject.email:
        conditions.append(f"Email = {soql_quote(subject.email.strip())}")
    if subject.b2connect_id:
        conditions.append(f"{soql_identifier(id_field)} = {soql_quote(subject.b2connect_id)}")
    crm_id = subject.crm_ids.get(SYSTEM)
    if crm_id:
        conditions.append(f"Id = {soql_quote(crm_id)}")
    return " OR ".join(conditions) or None


def _find(api: Api, where: str) -> list[dict[str, Any]]:
    soql = f"{select(['Id', 'IndividualId', 'IsDeleted'], 'Contact')} WHERE {where}"
    return api.call(lambda sf: list(sf.query_all_iter(soql, include_deleted=True)))


def _forget_individuals(api: Api, individual_ids: Sequence[str]) -> int:
    """Set ShouldForget on each Individual; returns how many were marked."""
    marked = 0
    for chunk in chunks(list(individual_ids), COLLECTION_SIZE):
        records = [
            {"attributes": {"type": "Individual"}, "id": iid, "ShouldForget": True} for iid in chunk
        ]
        body = {"allOrNone": False, "records": records}

        def run(sf: Salesforce, b: dict[str, Any] = body) -> Any:
            return sf.restful("composite/sobjects", method="PATCH", json=b)

        answer = api.call(run) or []
        marked += sum(1 for raw in answer if isinstance(raw, dict) and raw.get("success"))
    return marked


def _hard_delete(api: Api, ids: list[str], wait: float) -> tuple[HardDeleted, str]:
    try:
        return hard_delete(api, "Contact", ids, wait), ""
    except Fatal as exc:
        if exc.code not in {"BULK_JOB_FAILED", "BULK_LOAD"}:
            raise
        note = "hard delete failed (grant the integration user 'Bulk API Hard Delete')"
        return HardDeleted(failed=dict.fromkeys(ids, ("BULK_JOB_FAILED", exc.message))), note


def erase(api: Api, subject: Subject, id_field: str, wait: float) -> ErasureResult:
    """Remove the subject's Contacts for good; see the module docstring for the steps."""
    where = _match(subject, id_field)
    if where is None:
        return ErasureResult(SYSTEM, done=False, detail="no email, B2Connect id or Salesforce id")
    found = _find(api, where)
    ids = [str(r["Id"]) for r in found]
    individuals = sorted({str(r["IndividualId"]) for r in found if r.get("IndividualId")})
    marked = _forget_individuals(api, individuals)
    removed, note = _hard_delete(api, ids, wait)
    live = {str(r["Id"]) for r in found if not r.get("IsDeleted")}
    fallback = [rid for rid in ids if rid in live and rid not in removed.deleted]
    delete_by_ids(api, fallback)
    left = _find(api, where) if ids else []
    parts = [f"{len(ids) - len(left)} contact(s) removed", f"{marked} individual(s) to forget"]
    if marked < len(individuals):
        parts.append(f"{len(individuals) - marked} individual(s) could not be flagged")
    if note:
        parts.append(note)
    if left:
        parts.append(f"{len(left)} contact(s) still in Salesforce (Recycle Bin)")
    log.info("salesforce.erased", contacts=len(ids), left=len(left), individuals=marked)
    return ErasureResult(
        SYSTEM, done=not left, detail="; ".join(parts), removed=len(ids) - len(left)
    )
