"""The person's other Salesforce records an erasure removes per policy (``erasure:`` YAML).

Orders are the sObjects of the orders pipelines, found through their Contact lookup field
(before the Contacts go: Salesforce clears a lookup to a deleted record), their lines through
the lines' parent field; consent records are the ``ContactPointTypeConsent`` rows whose
``PartyId`` is one of the person's Individuals. Every query is ``queryAll``, so records in the
Recycle Bin are found and removed too. Lines come before their orders (children first).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from simple_salesforce.api import Salesforce

from connectors.salesforce._api import Api
from connectors.salesforce._consent_records import CONSENT_OBJECT
from connectors.salesforce.soql import in_clauses, select

__all__ = ["Group", "OrderObject", "RelatedPolicy", "find_related", "left_of", "unshared"]

INDIVIDUAL = "Individual"


@dataclass(frozen=True)
class OrderObject:
    """An order sObject, its lookup to Contact and its line sObjects (sObject, parent field)."""

    sobject: str
    contact_field: str
    lines: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RelatedPolicy:
    """What to remove besides the Contacts."""

    orders: tuple[OrderObject, ...] = ()
    consent_records: bool = False


@dataclass
class Group:
    """Records of one sObject to remove: Id → whether it is already in the Recycle Bin."""

    sobject: str
    label: str
    records: dict[str, bool]

    @property
    def ids(self) -> list[str]:
        return sorted(self.records)


def _query_all(api: Api, soql: str) -> list[dict[str, Any]]:
    """Every row of ``soql``, deleted ones included (``queryAll``)."""

    def run(sf: Salesforce) -> list[dict[str, Any]]:
        return list(sf.query_all_iter(soql, include_deleted=True))

    rows: list[dict[str, Any]] = api.call(run)
    return rows


def _where(api: Api, sobject: str, field: str, values: Sequence[str]) -> dict[str, bool]:
    """Id → IsDeleted of every record (recycled too) whose ``field`` is in ``values``."""
    out: dict[str, bool] = {}
    for _chunk, condition in in_clauses(field, sorted(set(values))):
        soql = f"{select(['Id', 'IsDeleted'], sobject)} WHERE {condition}"
        rows = _query_all(api, soql)
        out.update({str(r["Id"]): bool(r.get("IsDeleted")) for r in rows})
    return out


def find_related(
    api: Api, policy: RelatedPolicy, contact_ids: Sequence[str], individual_ids: Sequence[str]
) -> list[Group]:
    """The groups to remove, in removal order (lines, orders, consent records)."""
    groups: list[Group] = []
    for order in policy.orders if contact_ids else ():
        orders = _where(api, order.sobject, order.contact_field, contact_ids)
        for line_object, parent_field in order.lines if orders else ():
            lines = _where(api, line_object, parent_field, sorted(orders))
            groups.append(Group(line_object, "order line(s)", lines))
        groups.append(Group(order.sobject, "order(s)", orders))
    if policy.consent_records and individual_ids:
        consents = _where(api, CONSENT_OBJECT, "PartyId", individual_ids)
        groups.append(Group(CONSENT_OBJECT, "consent record(s)", consents))
    return [g for g in groups if g.records]


def unshared(api: Api, individual_ids: Sequence[str], purged: Collection[str] = ()) -> list[str]:
    """The Individuals no Contact and no consent record (recycled ones included) points to;
    deleted referrers whose removal was confirmed (``purged``) no longer count."""
    if not individual_ids:
        return []
    done = set(purged)
    used = set(_referrers(api, "Contact", "IndividualId", individual_ids, done))
    used |= set(_referrers(api, CONSENT_OBJECT, "PartyId", individual_ids, done))
    return sorted(set(individual_ids) - used)


def _referrers(
    api: Api, sobject: str, field: str, values: Sequence[str], purged: set[str]
) -> list[str]:
    out: list[str] = []
    for _chunk, condition in in_clauses(field, sorted(set(values))):
        soql = f"{select(['Id', 'IsDeleted', field], sobject)} WHERE {condition}"
        rows = _query_all(api, soql)
        out.extend(
            str(r[field])
            for r in rows
            if r.get(field) and not (r.get("IsDeleted") and str(r.get("Id")) in purged)
        )
    return out


def left_of(api: Api, sobject: str, ids: Sequence[str], purged: Collection[str] = ()) -> int:
    """How many of ``ids`` Salesforce still holds (Recycle Bin included); ``queryAll`` rows
    with ``IsDeleted = true`` whose removal was confirmed (``purged``) count as gone."""
    if not ids:
        return 0
    done = set(purged)
    rows = _where(api, sobject, "Id", ids)
    return sum(1 for rid, deleted in rows.items() if not deleted or rid not in done)
