"""Deleting by B2Connect key and erasing a person (GDPR Art. 17).

Erasure finds the person's Contacts by email, B2Connect id or Salesforce id (``queryAll``,
so recycled ones count too); per the ``erasure:`` policy removes their orders (and lines) and
consent records first (:mod:`connectors.salesforce._erase_related`); sets
``Individual.ShouldForget = true`` on their Individuals (a marker Salesforce itself does not
act on), then removes the Contacts for good (:mod:`connectors.salesforce._erase_purge`: a Bulk
API 2.0 ``hardDelete`` job, or, without the "Bulk API Hard Delete" permission or for a record
already in the Recycle Bin, a delete followed by ``emptyRecycleBin``; the detail says which
method removed how many); with consent records removed, an Individual nothing references any
more goes too. The result is ``done`` only when ``queryAll`` finds nothing left but rows whose
removal was confirmed (purged rows stay visible there with ``IsDeleted = true`` for about a day).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from simple_salesforce.api import Salesforce

from connectors.records import ErasureResult, Subject, WriteResult
from connectors.salesforce._api import Api
from connectors.salesforce._bulk_jobs import Polling
from connectors.salesforce._erase_purge import Removal, delete_by_ids, remove_for_good, still_there
from connectors.salesforce._erase_related import (
    INDIVIDUAL,
    Group,
    RelatedPolicy,
    find_related,
    left_of,
    unshared,
)
from connectors.salesforce._read import lookup
from connectors.salesforce._write import COLLECTION_SIZE, chunks
from connectors.salesforce.soql import select, soql_identifier, soql_quote

__all__ = ["SYSTEM", "RelatedPolicy", "delete_by_ids", "delete_by_keys", "erase"]

log = structlog.get_logger(__name__)

SYSTEM = "salesforce"
SYSTEM_CONTACT = "Contact"


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


def _remove(api: Api, group: Group, wait: Polling) -> tuple[int, Removal]:
    """Remove one group for good; how many are gone, and how."""
    recycled = [rid for rid, binned in group.records.items() if binned]
    removal = remove_for_good(api, group.sobject, group.ids, recycled, wait)
    left = left_of(api, group.sobject, group.ids, removal.gone)
    return len(group.records) - left - len(removal.already), removal


def _describe(label: str, gone: int, removal: Removal) -> str:
    how = removal.summary()
    return f"{gone} {label} removed" + (f" ({how})" if how else "")


def _remove_related(
    api: Api,
    policy: RelatedPolicy,
    contact_ids: list[str],
    individuals: list[str],
    wait: Polling,
    purged: set[str],
    notes: set[str],
) -> tuple[list[str], int]:
    """Remove the person's orders, lines and consent records: (detail parts, records left);
    the ids removed for good are added to ``purged``, fallback notes to ``notes``."""
    parts: list[str] = []
    left = 0
    for group in find_related(api, policy, contact_ids, individuals):
        gone, removal = _remove(api, group, wait)
        purged.update(removal.gone)
        notes.update(removal.notes)
        remaining = len(group.records) - gone - len(removal.already)
        if not gone and not remaining:
            continue  # all removed for good by an earlier erasure (queryAll still shows them)
        parts.append(_describe(group.label, gone, removal))
        if remaining:
            parts.append(f"{remaining} {group.label} still in Salesforce")
            left += remaining
    return parts, left


def _remove_individuals(
    api: Api, individuals: list[str], wait: Polling, purged: set[str]
) -> tuple[list[str], int]:
    """Remove for good the person's Individuals nothing (left) references any more."""
    spare = unshared(api, individuals, purged)
    if not spare:
        return [], 0
    gone, removal = _remove(
        api, Group(INDIVIDUAL, "individual(s)", dict.fromkeys(spare, False)), wait
    )
    parts = [_describe("individual(s)", gone, removal)]
    remaining = len(spare) - gone - len(removal.already)
    if remaining:
        parts.append(f"{remaining} individual(s) still in Salesforce")
    return parts, remaining


def erase(
    api: Api, subject: Subject, id_field: str, wait: Polling, related: RelatedPolicy | None = None
) -> ErasureResult:
    """Remove the subject's Contacts (and, per ``related``, their orders and consent records)
    for good; see the module docstring for the steps."""
    where = _match(subject, id_field)
    if where is None:
        return ErasureResult(SYSTEM, done=False, detail="no email, B2Connect id or Salesforce id")
    policy = related or RelatedPolicy()
    found = _find(api, where)
    ids = [str(r["Id"]) for r in found]
    if not ids:
        detail = "not found: no Contact with this email or id (live or in the Recycle Bin)"
        return ErasureResult(SYSTEM, done=True, detail=detail, found=False)
    individuals = sorted({str(r["IndividualId"]) for r in found if r.get("IndividualId")})
    purged: set[str] = set()
    notes: set[str] = set()
    related_parts, related_left = _remove_related(
        api, policy, ids, individuals, wait, purged, notes
    )
    marked = _forget_individuals(api, individuals)
    recycled = [str(r["Id"]) for r in found if r.get("IsDeleted")]
    removal = remove_for_good(api, SYSTEM_CONTACT, ids, recycled, wait)
    purged.update(removal.gone)
    rows = {str(r["Id"]): bool(r.get("IsDeleted")) for r in _find(api, where)} if ids else {}
    left = still_there({rid: d for rid, d in rows.items() if rid in set(ids)}, removal)
    removed_now = len(ids) - len(left) - len(removal.already)
    parts = [
        _describe("contact(s)", removed_now, removal),
        f"{marked} individual(s) to forget",
    ]
    if marked < len(individuals):
        parts.append(f"{len(individuals) - marked} individual(s) could not be flagged")
    notes.update(removal.notes)
    for rid, (code, message) in sorted(removal.failed.items()):
        parts.append(f"contact {rid} not removed ({code}: {message})")
    if left:
        parts.append(f"{len(left)} contact(s) still in Salesforce (live or in the Recycle Bin)")
    parts.extend(related_parts)
    if policy.consent_records and not left:
        individual_parts, individuals_left = _remove_individuals(api, individuals, wait, purged)
        parts.extend(individual_parts)
        related_left += individuals_left
    parts.extend(sorted(notes))
    log.info(
        "salesforce.erased", contacts=len(ids), left=len(left), individuals=marked,
        related_left=related_left,
    )  # fmt: skip
    return ErasureResult(
        SYSTEM,
        done=not left and not related_left,
        detail="; ".join(parts),
        removed=removed_now,
        found=True,
    )
