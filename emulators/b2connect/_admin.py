"""The admin side: what shoppers and shop admins do, through ``/_emulator/records/...``.

Admin edits are validated like write-backs, recorded in the delta feeds and fire webhooks.
``{"deleted": true}`` soft-deletes a record, ``{"deleted": false}`` restores it.
"""

from __future__ import annotations

from typing import Any

from emulators._base import HttpError
from emulators.b2connect._api import CrmApi
from emulators.b2connect._common import ENTITIES, contains_nul, is_guid, plain
from emulators.b2connect._orders import ORDER_FIELDS
from emulators.b2connect._store import Row
from emulators.b2connect._validate import (
    COMPANY_FIELDS,
    COMPANY_READONLY,
    CONSENT_FIELDS,
    CUSTOMER_FIELDS,
    ERASURE_FIELDS,
    ERASURE_PATCH_FIELDS,
    ORDER_ADMIN_FIELDS,
    F,
    validate,
)

_BASE_READONLY = frozenset({"id", "tenantId", "createdAt", "updatedAt"})
_CONSENT_EDIT = {k: v for k, v in CONSENT_FIELDS.items() if k not in ("channel", "purpose")}
#: field rules and read-only names for admin edits, per entity
_PATCH_RULES: dict[str, tuple[dict[str, F], frozenset[str]]] = {
    "customers": ({**CUSTOMER_FIELDS, "customerNumber": F("str", 50)}, _BASE_READONLY),
    "companies": (COMPANY_FIELDS, COMPANY_READONLY),
    "orders": (ORDER_ADMIN_FIELDS, frozenset(ORDER_FIELDS) - set(ORDER_ADMIN_FIELDS)),
    "consents": (_CONSENT_EDIT, _BASE_READONLY | {"channel", "purpose"}),
    "erasures": (ERASURE_PATCH_FIELDS, _BASE_READONLY | set(ERASURE_FIELDS)),
}
_CREATE_EXTRA = frozenset({"id", "createdAt", "updatedAt"})


def view(row: Row) -> dict[str, Any]:
    """A record as the admin API shows it: plain JSON values, ``deleted`` flag when deleted."""
    data: dict[str, Any] = plain(row.data)
    if row.deleted:
        data["deleted"] = True
    return data


class Admin:
    """Admin list/get/patch/create over the shop."""

    def __init__(self, api: CrmApi, tenants: list[str]) -> None:
        self.api = api
        self.shop = api.shop
        self.store = api.store
        self.tenants = tenants

    def _check_obj(self, obj: str) -> None:
        if obj not in ENTITIES:
            raise HttpError(404, "NOT_FOUND", f"Unknown object '{obj}'; use one of {ENTITIES}.")

    def _row(self, obj: str, rid: str) -> Row:
        self._check_obj(obj)
        row = self.store.get(obj, rid)
        if row is None:
            raise HttpError(404, "NOT_FOUND", f"No {obj} {rid}.")
        return row

    def list(self, obj: str) -> list[dict[str, Any]]:
        self._check_obj(obj)
        return [view(r) for r in self.store.rows[obj].values()]

    def get(self, obj: str, rid: str) -> dict[str, Any]:
        return view(self._row(obj, rid))

    def patch(self, obj: str, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        row = self._row(obj, rid)
        fields, readonly = _PATCH_RULES[obj]
        changes = validate(data, fields, readonly=readonly, extra_ok=frozenset({"deleted"}))
        deleted = changes.pop("deleted", None)
        if deleted is not None and not isinstance(deleted, bool):
            raise HttpError(400, "VALIDATION", "deleted must be a boolean.")
        if deleted is False:
            self.shop.restore(row, notify=True)
        if obj == "customers":
            self.api.check_customer_refs(row, changes)
        if obj == "consents" and "status" in changes:
            changes.setdefault("capturedAt", self.shop.now())
        if obj == "erasures" and "status" in changes:
            self.shop.set_erasure_status(row, changes["status"], changes.get("note"), notify=True)
        elif changes:
            self.shop.update(row, changes, notify=True)
        if deleted is True:
            self.shop.delete(row, notify=True)
        return view(row)

    def create(self, obj: str, data: dict[str, Any]) -> dict[str, Any]:
        self._check_obj(obj)
        data = dict(data)
        tenant = str(data.pop("tenantId", None) or self.tenants[0])
        if tenant not in self.tenants:
            raise HttpError(400, "VALIDATION", f"Tenant {tenant} is not served here.")
        if obj == "customers":
            clean = validate(
                data,
                {**CUSTOMER_FIELDS, "customerNumber": F("str", 50)},
                required=("email",),
                extra_ok=_CREATE_EXTRA,
            )
            probe = Row("customers", tenant, {"id": data.get("id") or ""})
            self.api.check_customer_refs(probe, clean)
            row = self.shop.create(obj, tenant, clean, notify=True)
        elif obj == "companies":
            clean = validate(data, COMPANY_FIELDS, required=("name",), extra_ok=_CREATE_EXTRA)
            row = self.shop.create(obj, tenant, clean, notify=True)
        elif obj == "orders":
            unknown = sorted(set(data) - set(ORDER_FIELDS))
            if unknown:
                raise HttpError(400, "VALIDATION", f"Unknown order fields: {unknown}.")
            if contains_nul(data):
                raise HttpError(400, "VALIDATION", "Text must not contain NUL characters.")
            if not is_guid(data.get("customerId")):
                raise HttpError(400, "VALIDATION", "An order needs a customerId (Guid).")
            row = self.shop.create(obj, tenant, data, notify=True)
        elif obj == "consents":
            clean = validate(data, CONSENT_FIELDS, required=("channel", "purpose", "status"))
            row, _ = self.shop.upsert_consent(tenant, clean, notify=True)
        else:
            clean = validate(data, ERASURE_FIELDS)
            row = self.api.create_erasure(tenant, clean, origin="b2connect", notify=True)
        return view(row)
