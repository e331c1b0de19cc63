"""Handlers of the integration contract (``/api/crm/...``) and the real ``/api/v1/orders``.

Each handler gets the request and the authenticated :class:`Principal`; it sees only the
principal's tenant. Write-backs are recorded in the delta feeds but fire no webhooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, HttpError
from emulators.b2connect._auth import Principal
from emulators.b2connect._common import ENTITIES
from emulators.b2connect._delta import TokenCodec, delta_page
from emulators.b2connect._http import json_ok
from emulators.b2connect._shop import Shop
from emulators.b2connect._store import Row
from emulators.b2connect._v1orders import list_orders, v1_order
from emulators.b2connect._validate import (
    COMPANY_FIELDS,
    COMPANY_READONLY,
    CONSENT_FIELDS,
    CUSTOMER_FIELDS,
    CUSTOMER_READONLY,
    ERASURE_FIELDS,
    ERASURE_PATCH_FIELDS,
    validate,
)


def permission_for(req: EmuRequest) -> str:
    """The CrmPermissions entry a route needs."""
    entity = req.path_params.get("entity")
    if req.path.startswith("/api/v1/orders") or entity == "orders":
        return "ReadOrders"
    return "ReadCustomers" if req.method in ("GET", "HEAD") else "UpdateCustomers"


def _invalid(field: str, message: str) -> HttpError:
    return HttpError(
        400, "VALIDATION", "One or more validation errors occurred.", errors={field: [message]}
    )


class CrmApi:
    """The vendor routes, over the shop's store."""

    def __init__(self, shop: Shop, codec: TokenCodec) -> None:
        self.shop = shop
        self.store = shop.store
        self.codec = codec

    def routes(self) -> list[tuple[str, str, Callable[[EmuRequest, Principal], Response]]]:
        return [
            ("GET", "/api/crm/{entity}/delta", self.delta),
            ("GET", "/api/crm/{entity}/{rid}", self.get_record),
            ("POST", "/api/crm/customers", self.post_customer),
            ("POST", "/api/crm/companies", self.post_company),
            ("PATCH", "/api/crm/customers/{rid}", self.patch_customer),
            ("PATCH", "/api/crm/companies/{rid}", self.patch_company),
            ("POST", "/api/crm/consents", self.post_consent),
            ("POST", "/api/crm/erasures", self.post_erasure),
            ("PATCH", "/api/crm/erasures/{rid}", self.patch_erasure),
            ("GET", "/api/v1/orders", self.v1_list),
            ("GET", "/api/v1/orders/{rid}", self.v1_get),
        ]

    # ---- reads

    def _entity(self, req: EmuRequest) -> str:
        entity = req.path_params["entity"]
        if entity not in ENTITIES:
            raise HttpError(404, "NOT_FOUND", f"Unknown entity '{entity}'.")
        return entity

    def _live(self, entity: str, rid: str, tenant: str) -> Row:
        row = self.store.get(entity, rid, tenant)
        if row is None or row.deleted:
            raise HttpError(404, "NOT_FOUND", f"No record with id {rid} in {entity}.")
        return row

    def delta(self, req: EmuRequest, who: Principal) -> Response:
        entity = self._entity(req)
        return json_ok(
            delta_page(self.store, self.codec, who.tenant, entity, req, now=self.shop.now())
        )

    def get_record(self, req: EmuRequest, who: Principal) -> Response:
        entity = self._entity(req)
        return json_ok(self._live(entity, req.path_params["rid"], who.tenant).data)

    def v1_list(self, req: EmuRequest, who: Principal) -> Response:
        return json_ok(list_orders(self.store, who.tenant, req))

    def v1_get(self, req: EmuRequest, who: Principal) -> Response:
        return json_ok(v1_order(self._live("orders", req.path_params["rid"], who.tenant).data))

    # ---- write-backs

    def patch_customer(self, req: EmuRequest, who: Principal) -> Response:
        row = self._live("customers", req.path_params["rid"], who.tenant)
        changes = validate(req.json(), CUSTOMER_FIELDS, readonly=CUSTOMER_READONLY)
        self.check_customer_refs(row, changes)
        self.shop.update(row, changes, notify=False)
        return json_ok(row.data)

    def check_customer_refs(self, row: Row, changes: dict[str, Any]) -> None:
        """The company must exist in the tenant; the email must stay unique in it."""
        company = changes.get("companyId")
        if company is not None:
            target = self.store.get("companies", company, row.tenant)
            if target is None or target.deleted:
                raise _invalid("companyId", f"No company {company} in this tenant.")
        email = changes.get("email")
        if email is not None:
            clash = [
                r
                for r in self.shop.customers_of(row.tenant, None, email)
                if r.id != row.id and not r.deleted
            ]
            if clash:
                raise HttpError(409, "CONFLICT", "Another customer of this tenant has that email.")

    # ---- creates (records a CRM user marked for the shop)

    def post_customer(self, req: EmuRequest, who: Principal) -> Response:
        """Create a customer; 409 naming the live customer that already has the email."""
        data = validate(
            req.json(), CUSTOMER_FIELDS, readonly=CUSTOMER_READONLY, required=("email",)
        )
        self._refuse_twin("customers", who.tenant, "email", data["email"])
        self.check_customer_refs(Row("customers", who.tenant, {"id": ""}), data)
        row = self.shop.create("customers", who.tenant, data, notify=False)
        return json_ok(row.data, 201, headers={"Location": f"/api/crm/customers/{row.id}"})

    def post_company(self, req: EmuRequest, who: Principal) -> Response:
        """Create a company; 409 naming the live company that already has the VAT id."""
        data = validate(req.json(), COMPANY_FIELDS, readonly=COMPANY_READONLY, required=("name",))
        if data.get("vatId"):
            self._refuse_twin("companies", who.tenant, "vatId", data["vatId"])
        row = self.shop.create("companies", who.tenant, data, notify=False)
        return json_ok(row.data, 201, headers={"Location": f"/api/crm/companies/{row.id}"})

    def _refuse_twin(self, entity: str, tenant: str, field: str, value: str) -> None:
        wanted = value.strip().casefold()
        for row in self.store.rows[entity].values():
            same = str(row.data.get(field) or "").strip().casefold() == wanted
            if row.tenant == tenant and not row.deleted and same:
                raise HttpError(
                    409,
                    "CONFLICT",
                    f"A live record of {entity} in this tenant has that {field}.",
                    members={"existingId": row.id},
                )

    def patch_company(self, req: EmuRequest, who: Principal) -> Response:
        row = self._live("companies", req.path_params["rid"], who.tenant)
        changes = validate(req.json(), COMPANY_FIELDS, readonly=COMPANY_READONLY)
        self.shop.update(row, changes, notify=False)
        return json_ok(row.data)

    def post_consent(self, req: EmuRequest, who: Principal) -> Response:
        data = validate(req.json(), CONSENT_FIELDS, required=("channel", "purpose", "status"))
        row, created = self.shop.upsert_consent(who.tenant, data, notify=False)
        location = {"Location": f"/api/crm/consents/{row.id}"}
        return json_ok(row.data, 201 if created else 200, headers=location)

    def post_erasure(self, req: EmuRequest, who: Principal) -> Response:
        data = validate(req.json(), ERASURE_FIELDS)
        row = self.create_erasure(who.tenant, data, origin="crm", notify=False)
        self.shop.set_erasure_status(row, "completed", None, notify=False)
        return json_ok(row.data, 201, headers={"Location": f"/api/crm/erasures/{row.id}"})

    def create_erasure(
        self, tenant: str, data: dict[str, Any], *, origin: str, notify: bool
    ) -> Row:
        """A pending erasure request for a subject named by id or email."""
        subject, email = data.get("subjectId"), data.get("email")
        if subject is None and not email:
            raise _invalid("subjectId", "Either subjectId or email is required.")
        people = self.shop.customers_of(tenant, subject, email)
        if subject is None and people:
            data["subjectId"] = people[0].id
        if not email and people:
            data["email"] = people[0].data.get("email")
        data.setdefault("requestedAt", self.shop.now())
        data.update({"origin": origin, "status": "pending"})
        return self.shop.create("erasures", tenant, data, notify=notify)

    def patch_erasure(self, req: EmuRequest, who: Principal) -> Response:
        row = self._live("erasures", req.path_params["rid"], who.tenant)
        data = validate(req.json(), ERASURE_PATCH_FIELDS, required=("status",))
        self.shop.set_erasure_status(row, data["status"], data.get("note"), notify=False)
        return json_ok(row.data)
