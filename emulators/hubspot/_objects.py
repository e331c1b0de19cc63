"""CRM v3 object routes: list, create, get, update, archive, GDPR delete."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, HttpError, json_response

from ._host import HubSpotHost
from ._schema import (
    OBJECT_TYPES,
    ObjectType,
    association_label,
    association_types,
    resolve_type,
)
from ._store import Record
from ._util import bad_request, validation_error
from ._values import normalize

API = "INTEGRATION"


def not_found(rid: str) -> HttpError:
    return HttpError(404, "OBJECT_NOT_FOUND", "resource not found", context={"id": [rid]})


def refuse_read_only(ot: ObjectType) -> None:
    """Feedback submissions are read through the API only (HubSpot's survey tool writes
    them); the SDK has no create, update or archive for them. The status is the emulator's."""
    if ot.read_only:
        raise HttpError(
            405,
            "METHOD_NOT_ALLOWED",
            f"{ot.name} are read-only through the API",
            context={"objectType": [ot.name]},
        )


def wanted_properties(req: EmuRequest) -> list[str] | None:
    """``properties`` query values (repeated or comma-separated); None when absent."""
    names = req.q_list("properties")
    return names or None


def flag(req: EmuRequest, name: str) -> bool:
    return (req.q(name) or "false").lower() == "true"


class ObjectRoutes:
    """Basic CRM v3 object endpoints and the helpers the batch and search routes share."""

    def __init__(self, emu: HubSpotHost) -> None:
        self.emu = emu
        self.store = emu.store

    def register(self) -> None:
        r = self.emu.route
        base = "/crm/v3/objects/{object_type}"
        r("POST", "/crm/v3/objects/contacts/gdpr-delete", self.gdpr_delete)
        r("GET", base, self.list)
        r("POST", base, self.create)
        r("GET", base + "/{object_id}", self.get)
        r("PATCH", base + "/{object_id}", self.update)
        r("DELETE", base + "/{object_id}", self.archive)

    # ---- helpers shared with the batch routes

    def check_write(
        self,
        ot: ObjectType,
        props: Any,
        exclude: str | None,
    ) -> dict[str, str]:
        """Validated, normalised properties; raises the 400/409 HubSpot would send."""
        refuse_read_only(ot)
        clean, details = normalize(
            ot, self.store.properties[ot.name], props, blocklist=self.store.blocklist
        )
        if details:
            raise validation_error(details)
        clash = self.store.conflict(ot, clean, exclude)
        if clash is not None:
            raise clash
        return clean

    def resolve_associations(
        self, ot: ObjectType, raw: Any
    ) -> list[tuple[ObjectType, str, int, int]]:
        """[(to type, to id, type id, reverse id)] for a create body's ``associations``."""
        out = []
        for item in raw or []:
            to_id = str((item.get("to") or {}).get("id", ""))
            for spec in item.get("types") or []:
                type_id = int(spec.get("associationTypeId", 0))
                match = self._association_target(ot, type_id)
                if match is None:
                    raise bad_request(
                        f"association type id {type_id} doesn't exist for {ot.singular}",
                        context={"associationTypeId": [str(type_id)]},
                    )
                to_type, reverse = match
                target = self.store.get(to_type, to_id)
                if target is None or target.archived:
                    raise bad_request(
                        f"One or more associations are invalid: {to_type.singular} {to_id} "
                        "does not exist",
                        context={"toObjectId": [to_id]},
                    )
                out.append((to_type, to_id, type_id, reverse))
        return out

    def _association_target(self, ot: ObjectType, type_id: int) -> tuple[ObjectType, int] | None:
        for to_type in OBJECT_TYPES.values():
            for fwd, rev, _label in association_types(ot, to_type):
                if fwd == type_id:
                    return to_type, rev
        return None

    def associate(self, rec: Record, links: list[tuple[ObjectType, str, int, int]]) -> None:
        for to_type, to_id, type_id, reverse in links:
            pairs = association_types(rec.type, to_type)
            default_fwd, default_rev, _ = pairs[0]
            self.store.assoc.add(
                rec.type.name, rec.id, to_type.name, to_id, (default_fwd, default_rev)
            )
            self.store.assoc.add(rec.type.name, rec.id, to_type.name, to_id, (type_id, reverse))

    def locate(
        self, ot: ObjectType, rid: str, id_property: str | None, *, archived: bool = False
    ) -> Record:
        """The record by id or unique ``id_property``; 404 when missing."""
        prop = id_property or "hs_object_id"
        if prop != "hs_object_id" and not self.store.is_unique(ot, prop):
            raise bad_request(f"{prop} is not a unique property and cannot be used as idProperty")
        rec = self.store.find(ot, prop, rid, archived=archived)
        if rec is None:
            raise not_found(rid)
        return rec

    def render(self, rec: Record, req: EmuRequest) -> dict[str, Any]:
        body = rec.to_json(wanted_properties(req))
        to_types = req.q_list("associations")
        if to_types:
            body["associations"] = self._associations_json(rec, to_types)
        return body

    def _associations_json(self, rec: Record, to_types: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for raw in to_types:
            to_type = resolve_type(raw)
            results = []
            for to_id, type_ids in self.store.assoc.targets(rec.type.name, rec.id, to_type.name):
                labelled = any(association_label(t) for t in type_ids)
                for t in sorted(type_ids):
                    kind = f"{rec.type.singular}_to_{to_type.singular}"
                    if labelled and association_label(t) is None:
                        kind += "_unlabeled"
                    results.append({"id": to_id, "type": kind})
            if results:
                out[to_type.name] = {"results": results}
        return out

    # ---- routes

    def list(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["object_type"])
        limit = _int(req.q("limit", "10"), "limit")
        limit = max(1, min(limit, 100))
        after = req.q("after")
        start = _int(after, "after") if after else 0
        archived = flag(req, "archived")
        rows = [r for r in self.store.all(ot) if r.archived == archived and int(r.id) >= start]
        page = rows[:limit]
        body: dict[str, Any] = {"results": [self.render(r, req) for r in page]}
        if len(rows) > limit:
            nxt = rows[limit].id
            host = req.headers.get("host", "127.0.0.1")
            body["paging"] = {
                "next": {"after": nxt, "link": f"http://{host}{req.path}?after={nxt}"}
            }
        return json_response(body)

    def create(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["object_type"])
        body = req.json() or {}
        if not isinstance(body, dict):
            raise bad_request("Invalid input JSON: expected an object")
        clean = self.check_write(ot, body.get("properties"), None)
        links = self.resolve_associations(ot, body.get("associations"))
        rec = self.store.create(ot, clean, API)
        self.associate(rec, links)
        return json_response(rec.to_write_json(), 201)

    def get(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["object_type"])
        rec = self.locate(
            ot, req.path_params["object_id"], req.q("idProperty"), archived=flag(req, "archived")
        )
        return json_response(self.render(rec, req))

    def update(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["object_type"])
        rec = self.locate(ot, req.path_params["object_id"], req.q("idProperty"))
        body = req.json() or {}
        clean = self.check_write(
            ot, body.get("properties") if isinstance(body, dict) else None, rec.id
        )
        self.store.update(rec, clean, API)
        return json_response(rec.to_write_json())

    def archive(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["object_type"])
        refuse_read_only(ot)
        rec = self.store.get(ot, req.path_params["object_id"])
        if rec is not None:
            self.store.archive(rec, API)
        return Response(status_code=204)

    def gdpr_delete(self, req: EmuRequest) -> Response:
        ot = resolve_type("contacts")
        body = req.json() or {}
        object_id = str(body.get("objectId", "")).strip() if isinstance(body, dict) else ""
        if not object_id:
            raise bad_request("Invalid input JSON: objectId is required")
        prop = body.get("idProperty") or "hs_object_id"
        if prop not in ("hs_object_id", "email"):
            raise bad_request(f"{prop} cannot be used as idProperty for a GDPR delete")
        rec = self.store.find(ot, prop, object_id) or self.store.find(
            ot, prop, object_id, archived=True
        )
        if rec is None:
            if prop != "email":
                raise not_found(object_id)
            self.store.blocklist.add(object_id.lower())
            return Response(status_code=204)
        self.store.purge(rec, API)
        self.emu.commprefs.forget(rec.properties.get("email"))
        return Response(status_code=204)


def _int(value: str | None, name: str) -> int:
    try:
        return int(value or "0")
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer, got {value!r}") from exc
