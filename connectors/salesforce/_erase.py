"""Deleting by B2Connect key and erasing a person (GDPR Art. 17).

Erasure finds the person's Contacts by email, B2Connect id or Salesforce id (``queryAll``,
so recycled ones count too); per the ``erasure:`` policy removes their orders (and lines) and
consent records first (:mod:`connectors.salesforce._erase_related`); sets
``Individual.ShouldForget = true`` on their Individuals (a marker Salesforce itself does not
act on), then removes the Contacts for good with a Bulk API 2.0 ``hardDelete`` job, which
skips the Recycle Bin; with consent records removed, an Individual nothing references any
more goes too. Contacts the hard delete could
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
from connectors.salesforce._erase_related import (
    INDIVIDUAL,
    Group,
    RelatedPolicy,
    find_related,
    left_of,
    unshared,
)
from connectors.salesforce._read import lookup
from connectors.salesforce._write import COLLECTION_SIZE, chunks, result_from
from connectors.salesforce.soql import select, soql_identifier, soql_quote

__all__ = ["SYSTEM", "RelatedPolicy", "delete_by_ids", "delete_by_keys", "erase"]

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


def _hard_delete(
    api: Api, ids: list[str], wait: float, sobject: str = "Contact"
) -> tuple[HardDeleted, str]:
    try:
        return hard_delete(api, sobject, ids, wait), ""
    except Fatal as exc:
        if exc.code not in {"BULK_JOB_FAILED", "BULK_LOAD"}:
            raise
        note = "hard delete failed (grant the integration user 'Bulk API Hard Delete')"
        return HardDeleted(failed=dict.fromkeys(ids, ("BULK_JOB_FAILED", exc.message))), note


def _remove(api: Api, group: Group, wait: float) -> tuple[int, str]:
    """Hard-delete one group (soft delete where that fails); how many are gone for good."""
    removed, note = _hard_delete(api, group.ids, wait, group.sobject)
    live = [rid for rid, recycled in group.records.items() if not recycled]
    delete_by_ids(api, [rid for rid in live if rid not in removed.deleted])
    left = left_of(api, group.sobject, group.ids)
    return len(group.records) - left, note


def _remove_related(
    api: Api, policy: RelatedPolicy, contact_ids: list[str], individuals: list[str], wait: float
) -> tuple[list[str], int]:
    """Remove the person's orders, lines and consent records: (detail parts, records left)."""
    parts: list[str] = []
    left = 0
    for group in find_related(api, policy, contact_ids, individuals):
        gone, note = _remove(api, group, wait)
        parts.append(f"{gone} {group.label} removed")
        if note and note not in parts:
            parts.append(note)
        if gone < len(group.records):
            parts.append(f"{len(group.records) - gone} {group.label} still in Salesforce")
            left += len(group.records) - gone
    return parts, left


def _remove_individuals(api: Api, individuals: list[str], wait: float) -> tuple[list[str], int]:
    """Hard-delete the person's Individuals nothing references any more."""
    spare = unshared(api, individuals)
    if not spare:
        return [], 0
    gone, _note = _remove(
        api, Group(INDIVIDUAL, "individual(s)", dict.fromkeys(spare, False)), wait
    )
    parts = [f"{gone} individual(s) removed"]
    if gone < len(spare):
        parts.append(f"{len(spare) - gone} individual(s) still in Salesforce")
    return parts, len(spare) - gone


def erase(
    api: Api, subject: Subject, id_field: str, wait: float, related: RelatedPolicy | None = None
) -> ErasureResult:
    """Remove the subject's Contacts (and, per ``related``, their orders and consent records)
    for good; see the module docstring for the steps."""
    where = _match(subject, id_field)
    if where is None:
        return ErasureResult(SYSTEM, done=False, detail="no email, B2Connect id or Salesforce id")
    policy = related or RelatedPolicy()
    found = _find(api, where)
    ids = [str(r["Id"]) for r in found]
    individuals = sorted({str(r["IndividualId"]) for r in found if r.get("IndividualId")})
    related_parts, related_left = _remove_related(api, policy, ids, individuals, wait)
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
    parts.extend(related_parts)
    if policy.consent_records and not left:
        individual_parts, individuals_left = _remove_individuals(api, individuals, wait)
        parts.extend(individual_parts)
        related_left += individuals_left
    log.info(
        "salesforce.erased", contacts=len(ids), left=len(left), individuals=marked,
        related_left=related_left,
    )  # fmt: skip
    return ErasureResult(
        SYSTEM,
        done=not left and not related_left,
        detail="; ".join(parts),
        removed=len(ids) - len(left),
    )
