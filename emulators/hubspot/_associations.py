"""Associations v4: default and labelled associations, list, delete and batch calls."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, FaultRule, HttpError, json_response

from ._host import HubSpotHost
from ._schema import ObjectType, association_label, association_types, resolve_type
from ._util import bad_request, batch_body, require_inputs, standard_error

PAGE = 500
READ_LIMIT = 1000


def _oid(value: str) -> int | str:
    """Object ids as HubSpot's v4 responses carry them (numbers)."""
    return int(value) if value.isdigit() else value


def _ref(item: Any, key: str) -> str:
    ref = item.get(key) if isinstance(item, dict) else None
    return str(ref.get("id", "")) if isinstance(ref, dict) else ""


class AssociationRoutes:
    """``/crm/v4/objects/...`` and ``/crm/v4/associations/{from}/{to}/batch/...``."""

    def __init__(self, emu: HubSpotHost) -> None:
        self.emu = emu
        self.store = emu.store

    def register(self) -> None:
        r = self.emu.route
        obj = "/crm/v4/objects/{from_type}/{from_id}/associations"
        r("PUT", obj + "/default/{to_type}/{to_id}", self.create_default)
        r("PUT", obj + "/{to_type}/{to_id}", self.create_labelled)
        r("DELETE", obj + "/{to_type}/{to_id}", self.delete)
        r("GET", obj + "/{to_type}", self.list)
        batch = "/crm/v4/associations/{from_type}/{to_type}/batch"
        r("POST", batch + "/create", self.batch_create)
        r("POST", batch + "/associate/default", self.batch_default)
        r("POST", batch + "/read", self.batch_read)
        r("POST", batch + "/archive", self.batch_archive)
        r("POST", batch + "/labels/archive", self.batch_archive_labels)

    # ---- helpers

    def _types(self, req: EmuRequest) -> tuple[ObjectType, ObjectType]:
        return resolve_type(req.path_params["from_type"]), resolve_type(req.path_params["to_type"])

    def _require(self, ot: ObjectType, rid: str) -> None:
        rec = self.store.get(ot, rid)
        if rec is None or rec.archived:
            raise HttpError(
                404,
                "OBJECT_NOT_FOUND",
                f"No {ot.singular} with id {rid} exists",
                context={"id": [rid]},
            )

    def _pairs(self, ft: ObjectType, tt: ObjectType) -> list[tuple[int, int, str | None]]:
        pairs = association_types(ft, tt)
        if not pairs:
            raise bad_request(f"No association types exist between {ft.singular} and {tt.singular}")
        return pairs

    def _default(self, ft: ObjectType, fid: str, tt: ObjectType, tid: str) -> list[dict[str, Any]]:
        self._require(ft, fid)
        self._require(tt, tid)
        fwd, rev, _ = self._pairs(ft, tt)[0]
        self.store.assoc.add(ft.name, fid, tt.name, tid, (fwd, rev))
        return [_spec_row(fid, tid, fwd), _spec_row(tid, fid, rev)]

    def _labelled(
        self, ft: ObjectType, fid: str, tt: ObjectType, tid: str, specs: Any
    ) -> dict[str, Any]:
        self._require(ft, fid)
        self._require(tt, tid)
        pairs = self._pairs(ft, tt)
        known = {fwd: rev for fwd, rev, _ in pairs}
        if not isinstance(specs, list) or not specs:
            raise bad_request("At least one association type is required")
        for spec in specs:
            type_id = int((spec or {}).get("associationTypeId", 0))
            if type_id not in known:
                raise bad_request(
                    f"association type id {type_id} doesn't exist between "
                    f"{ft.singular} and {tt.singular}",
                    context={"associationTypeId": [str(type_id)]},
                )
        default_fwd, default_rev, _ = pairs[0]
        self.store.assoc.add(ft.name, fid, tt.name, tid, (default_fwd, default_rev))
        for spec in specs:
            type_id = int(spec["associationTypeId"])
            self.store.assoc.add(ft.name, fid, tt.name, tid, (type_id, known[type_id]))
        labels = sorted(
            {
                lbl
                for t in self.store.assoc.types(ft.name, fid, tt.name, tid)
                if (lbl := association_label(t))
            }
        )
        return {
            "fromObjectTypeId": ft.type_id,
            "fromObjectId": _oid(fid),
            "toObjectTypeId": tt.type_id,
            "toObjectId": _oid(tid),
            "labels": labels,
        }

    def _targets(self, ft: ObjectType, fid: str, tt: ObjectType) -> list[dict[str, Any]]:
        return [
            {
                "toObjectId": _oid(to_id),
                "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": t, "label": association_label(t)}
                    for t in sorted(type_ids)
                ],
            }
            for to_id, type_ids in self.store.assoc.targets(ft.name, fid, tt.name)
        ]

    # ---- single-object routes

    def create_default(self, req: EmuRequest) -> Response:
        ft, tt = self._types(req)
        started = self.emu.clock()
        rows = self._default(ft, req.path_params["from_id"], tt, req.path_params["to_id"])
        return json_response(batch_body(rows, [], started, self.emu.clock()))

    def create_labelled(self, req: EmuRequest) -> Response:
        ft, tt = self._types(req)
        pair = self._labelled(
            ft, req.path_params["from_id"], tt, req.path_params["to_id"], req.json()
        )
        return json_response(pair, 201)

    def delete(self, req: EmuRequest) -> Response:
        ft, tt = self._types(req)
        p = req.path_params
        self.store.assoc.remove(ft.name, p["from_id"], tt.name, p["to_id"])
        return Response(status_code=204)

    def list(self, req: EmuRequest) -> Response:
        ft, tt = self._types(req)
        limit = max(1, min(int(req.q("limit") or PAGE), PAGE))
        start = int(req.q("after") or 0)
        rows = self._targets(ft, req.path_params["from_id"], tt)
        body: dict[str, Any] = {"results": rows[start : start + limit]}
        if start + limit < len(rows):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return json_response(body)

    # ---- batch routes

    def batch_create(self, req: EmuRequest) -> Response:
        ft, tt = self._types(req)
        started = self.emu.clock()
        results, errors = [], []
        inputs = require_inputs(req.json())
        failing, rule = self.emu.faults.partial_fault(req.template, len(inputs))
        for index, item in enumerate(inputs):
            fid, tid = _ref(item, "from"), _ref(item, "to")
            try:
                if index in failing:
                    raise _injected(rule)
                results.append(self._labelled(ft, fid, tt, tid, item.get("types")))
            except HttpError as err:
                errors.append(_pair_error(err, fid, tid))
        body = batch_body(results, errors, started, self.emu.clock())
        return json_response(body, 207 if errors else 201)

    def batch_default(self, req: EmuRequest) -> Response:
        ft, tt = self._types(req)
        started = self.emu.clock()
        results, errors = [], []
        for item in require_inputs(req.json()):
            fid, tid = _ref(item, "from"), _ref(item, "to")
            try:
                results.extend(self._default(ft, fid, tt, tid))
            except HttpError as err:
                errors.append(_pair_error(err, fid, tid))
        return json_response(batch_body(results, errors, started, self.emu.clock()))

    def batch_read(self, req: EmuRequest) -> Response:
        ft, tt = self._types(req)
        started = self.emu.clock()
        results, errors = [], []
        for item in require_inputs(req.json(), limit=READ_LIMIT):
            fid = str(item.get("id", "")) if isinstance(item, dict) else ""
            rows = self._targets(ft, fid, tt)
            if not rows:
                errors.append(
                    standard_error(
                        HttpError(
                            404,
                            "OBJECT_NOT_FOUND",
                            f"No {tt.name} is associated with {ft.singular} {fid}.",
                            subCategory="crm.associations.NO_ASSOCIATIONS_FOUND",
                            context={"fromObjectId": [fid]},
                        )
                    )
                )
                continue
            start = int(item.get("after") or 0)
            row: dict[str, Any] = {"from": {"id": fid}, "to": rows[start : start + PAGE]}
            if start + PAGE < len(rows):
                row["paging"] = {"next": {"after": str(start + PAGE)}}
            results.append(row)
        body = batch_body(results, errors, started, self.emu.clock())
        return json_response(body, 207 if errors else 200)

    def batch_archive(self, req: EmuRequest) -> Response:
        ft, tt = self._types(req)
        for item in require_inputs(req.json()):
            fid = _ref(item, "from")
            for to in item.get("to") or []:
                self.store.assoc.remove(ft.name, fid, tt.name, str((to or {}).get("id", "")))
        return Response(status_code=204)

    def batch_archive_labels(self, req: EmuRequest) -> Response:
        ft, tt = self._types(req)
        default_fwd = self._pairs(ft, tt)[0][0]
        for item in require_inputs(req.json()):
            fid, tid = _ref(item, "from"), _ref(item, "to")
            type_ids = {int((s or {}).get("associationTypeId", 0)) for s in item.get("types") or []}
            if default_fwd in type_ids:
                self.store.assoc.remove(ft.name, fid, tt.name, tid)
            else:
                self.store.assoc.remove(ft.name, fid, tt.name, tid, only=type_ids)
        return Response(status_code=204)


def _spec_row(fid: str, tid: str, type_id: int) -> dict[str, Any]:
    return {
        "from": {"id": fid},
        "to": {"id": tid},
        "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
    }


def _injected(rule: FaultRule | None) -> HttpError:
    """A ``partial`` fault's per-pair failure: the rule's ``status``/``code`` when it names a
    code (a transient one, say), else the 400 HubSpot gives a pair it cannot associate."""
    if rule is not None and rule.code:
        return HttpError(rule.status, rule.code, rule.message or "Injected per-input failure")
    return bad_request("Injected fault: the association could not be created")


def _pair_error(err: HttpError, fid: str, tid: str) -> dict[str, Any]:
    out = standard_error(err)
    out["context"].update({"fromObjectId": [fid], "toObjectId": [tid]})
    return out
