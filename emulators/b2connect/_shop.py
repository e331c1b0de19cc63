"""The shop's domain operations: every mutation goes through here, so every one is recorded.

``notify=True`` marks changes made by shoppers or shop admins; those also fire a webhook.
Changes made through the integration API (b2sync's own write-backs) are recorded in the
delta feeds but not echoed as webhooks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from emulators._base import HttpError
from emulators.b2connect._common import (
    clone,
    iso,
    new_id,
    normalise_money,
    now_iso,
    parse_iso,
)
from emulators.b2connect._orders import build_order, check_status_change
from emulators.b2connect._store import Row, Store, changed_fields, stub

Notify = Callable[[str, str, dict[str, Any]], None]

_PERSON = {
    "email": None,
    "firstName": None,
    "lastName": None,
    "salutation": None,
    "phone": None,
    "mobile": None,
    "billingAddress": None,
    "shippingAddress": None,
}
TEMPLATES: dict[str, dict[str, Any]] = {
    "customers": {
        "customerNumber": None,
        **_PERSON,
        "companyId": None,
        "customerType": "Individual",
        "language": "de",
        "currency": "EUR",
        "isActive": True,
    },
    "companies": {
        "customerNumber": None,
        "name": None,
        "vatId": None,
        "taxId": None,
        "website": None,
        "email": None,
        "phone": None,
        "customerType": "Business",
        "language": "de",
        "currency": "EUR",
        "isActive": True,
        "billingAddress": None,
        "shippingAddress": None,
        "addresses": [],
    },
    "consents": {
        "subjectId": None,
        "email": None,
        "channel": "email",
        "purpose": "marketing",
        "status": "unknown",
        "legalBasis": "consent",
        "source": None,
        "capturedAt": None,
        "wordingVersion": None,
        "ipAddress": None,
    },
    "erasures": {
        "subjectId": None,
        "email": None,
        "status": "pending",
        "origin": "b2connect",
        "source": None,
        "reason": None,
        "note": None,
        "requestedAt": None,
        "completedAt": None,
    },
}
_NUMBER_PREFIX = {"customers": "K-", "companies": "F-"}
_ERASURE_NEXT = {
    "pending": {"processing", "completed", "rejected"},
    "processing": {"completed", "rejected"},
    "completed": set(),
    "rejected": set(),
}


ADDRESS_KEYS = ("street1", "street2", "city", "state", "postalCode", "countryCode")


def _full_addresses(record: dict[str, Any]) -> dict[str, Any]:
    """Give every address object all its keys (missing ones null)."""
    for key in ("billingAddress", "shippingAddress"):
        value = record.get(key)
        if isinstance(value, dict):
            record[key] = {**dict.fromkeys(ADDRESS_KEYS), **value}
    return record


def _canonical_times(data: dict[str, Any]) -> dict[str, Any]:
    """createdAt/updatedAt in the stored fixed-width form, whatever ISO form they came in."""
    out = dict(data)
    for key in ("createdAt", "updatedAt"):
        if isinstance(out.get(key), str):
            try:
                out[key] = iso(parse_iso(out[key]))
            except ValueError as exc:
                raise HttpError(400, "VALIDATION", f"{key} is not an ISO timestamp.") from exc
    return out


def event_type(entity: str, change_type: str) -> str:
    """Webhook event name for a change: ``customer.updated``, ``consent.changed``, ..."""
    if entity == "consents":
        return "consent.changed"
    if entity == "erasures":
        return "erasure.requested" if change_type == "Created" else "erasure.updated"
    singular = {"customers": "customer", "companies": "company", "orders": "order"}[entity]
    return f"{singular}.{change_type.lower()}"


class Shop:
    """Creates, edits, deletes, restores and erases records, logging each change."""

    def __init__(self, store: Store, clock: Callable[[], float], notify: Notify) -> None:
        self.store = store
        self.clock = clock
        self.notify = notify
        #: customer numbers of records created in the shop (seeded ones bring their own)
        self._numbers = itertools.count(900001)

    def now(self) -> str:
        return now_iso(self.clock)

    # ---- generic mutations

    def create(self, entity: str, tenant: str, data: dict[str, Any], *, notify: bool) -> Row:
        """Insert a record with defaults filled in; 409 when the id is taken."""
        now = self.now()
        data = clone(_canonical_times(data))
        if entity == "orders":
            record = build_order(data, tenant, now)
        else:
            record = {"id": new_id(), "tenantId": tenant, **TEMPLATES[entity]}
            record.update({"createdAt": now, "updatedAt": now, **data, "tenantId": tenant})
            if entity in _NUMBER_PREFIX and not record.get("customerNumber"):
                record["customerNumber"] = f"{_NUMBER_PREFIX[entity]}{next(self._numbers)}"
        record["id"] = str(record["id"])
        if record["id"] in self.store.rows[entity]:
            raise HttpError(409, "CONFLICT", f"{entity} {record['id']} already exists.")
        record = _full_addresses(record)
        row = Row(entity, tenant, normalise_money(record) if entity == "orders" else record)
        self.store.add(row)
        self.store.record(row, "Created", str(record["updatedAt"]), [])
        self._emit(row, "Created", notify)
        return row

    def update(self, row: Row, changes: dict[str, Any], *, notify: bool) -> list[str]:
        """Apply a merge-patch; returns the changed field names ([] when nothing changed)."""
        now = self.now()
        new = clone(row.data)
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(new.get(key), dict):
                new[key] = {**new[key], **value}
            else:
                new[key] = clone(value)
        status = changes.get("status")
        if row.entity == "orders" and status is not None and status != row.data["status"]:
            check_status_change(row.data, status)
            new["statusHistory"] = [*new["statusHistory"], {"status": status, "changedAt": now}]
        new = _full_addresses(new)
        fields = changed_fields(row.data, new)
        if not fields:
            return []
        new["updatedAt"] = now
        row.data = normalise_money(new) if row.entity == "orders" else new
        self.store.record(row, "Updated", now, fields)
        self._emit(row, "Updated", notify)
        return fields

    def delete(self, row: Row, *, notify: bool) -> None:
        if row.deleted:
            return
        now = self.now()
        row.deleted = True
        row.data["updatedAt"] = now
        self.store.record(row, "Deleted", now, [])
        self._emit(row, "Deleted", notify)

    def restore(self, row: Row, *, notify: bool) -> None:
        if not row.deleted:
            return
        now = self.now()
        row.deleted = False
        row.data["updatedAt"] = now
        self.store.record(row, "Restored", now, [])
        self._emit(row, "Restored", notify)

    def _emit(self, row: Row, change_type: str, notify: bool) -> None:
        if notify:
            data = stub(row) if change_type == "Deleted" else clone(row.data)
            self.notify(event_type(row.entity, change_type), row.tenant, data)

    # ---- people, consent and erasure

    def customers_of(self, tenant: str, subject_id: str | None, email: str | None) -> list[Row]:
        """Customers (deleted ones too) with this id or this email, compared case-insensitively."""
        wanted = (email or "").strip().casefold()
        return [
            r
            for r in self.store.rows["customers"].values()
            if r.tenant == tenant
            and (
                (subject_id is not None and r.id == subject_id)
                or (wanted and (r.data.get("email") or "").strip().casefold() == wanted)
            )
        ]

    def upsert_consent(
        self, tenant: str, data: dict[str, Any], *, notify: bool
    ) -> tuple[Row, bool]:
        """Create or update the consent for (subject, channel, purpose); (row, created)."""
        subject_id, email = data.get("subjectId"), data.get("email")
        if subject_id is None and email is None:
            raise HttpError(
                400,
                "VALIDATION",
                "One or more validation errors occurred.",
                errors={"subjectId": ["Either subjectId or email is required."]},
            )
        if subject_id is not None:
            people = [r for r in self.customers_of(tenant, subject_id, None) if not r.deleted]
            if not people:
                raise HttpError(
                    400,
                    "VALIDATION",
                    "One or more validation errors occurred.",
                    errors={"subjectId": [f"No customer {subject_id} in this tenant."]},
                )
            data.setdefault("email", people[0].data.get("email"))
        elif email is not None:
            people = [r for r in self.customers_of(tenant, None, email) if not r.deleted]
            if people:
                data["subjectId"] = people[0].id
        data.setdefault("capturedAt", self.now())
        existing = self._find_consent(tenant, data)
        if existing is None:
            return self.create("consents", tenant, data, notify=notify), True
        self.update(existing, data, notify=notify)
        return existing, False

    def _find_consent(self, tenant: str, data: dict[str, Any]) -> Row | None:
        email = (data.get("email") or "").strip().casefold()
        for row in self.store.live("consents", tenant):
            d = row.data
            if d["channel"] != data["channel"] or d["purpose"] != data["purpose"]:
                continue
            if data.get("subjectId") and d.get("subjectId"):
                if d["subjectId"] == data["subjectId"]:
                    return row
            elif email and (d.get("email") or "").strip().casefold() == email:
                return row
        return None

    def set_erasure_status(
        self, row: Row, status: str, note: str | None, *, notify: bool
    ) -> list[str]:
        """Move an erasure request on; reaching ``completed`` erases the shopper's data."""
        current = row.data["status"]
        if status == current:
            return []
        if status not in _ERASURE_NEXT[current]:
            raise HttpError(
                409, "CONFLICT", f"Erasure request is {current}; cannot become {status}."
            )
        changes: dict[str, Any] = {"status": status, "note": note}
        if status == "completed":
            self.erase_subject(row.tenant, row.data.get("subjectId"), row.data.get("email"))
            changes["completedAt"] = self.now()
        return self.update(row, changes, notify=notify)

    def erase_subject(self, tenant: str, subject_id: str | None, email: str | None) -> int:
        """Anonymise and delete the customer(s) and their consents; scrub them from history."""
        people = self.customers_of(tenant, subject_id, email)
        ids = {r.id for r in people}
        emails = {(r.data.get("email") or "").strip().casefold() for r in people}
        emails |= {(email or "").strip().casefold()} - {""}
        for row in people:
            self.delete(row, notify=False)
            row.data.update(dict.fromkeys(_PERSON))
            row.data["isActive"] = False
            self.store.scrub(row)
        for row in list(self.store.rows["consents"].values()):
            d = row.data
            mail = (d.get("email") or "").strip().casefold()
            if row.tenant == tenant and (d.get("subjectId") in ids or (mail and mail in emails)):
                self.delete(row, notify=False)
                row.data.update({"email": None, "ipAddress": None})
                self.store.scrub(row)
        return len(people)
