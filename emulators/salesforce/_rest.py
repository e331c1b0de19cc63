"""sObject REST resources: describe, create, read, update, delete and external-id upsert."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, HttpError, json_response

from ._common import (
    API,
    api_version,
    body_object,
    http_error,
    record_url,
    render,
    sobject_or_404,
    version_number,
)
from ._host import SalesforceHost
from ._ids import to18
from ._objects import children_of
from ._schema import SObject, describe_global_entry, describe_sobject
from ._store import MultipleMatches, Record
from ._values import SaveError

__all__ = ["register"]

_NOT_FOUND = "The requested resource does not exist"


def register(emu: SalesforceHost) -> None:
    """Add the sObject routes (specific paths before the catch-all id/ext-id ones)."""
    rest = _Rest(emu)
    obj = f"{API}/sobjects/{{sobject}}"
    for slash in ("", "/"):
        emu.route("GET", f"{API}/sobjects{slash}", rest.describe_global, name=f"{API}/sobjects")
        emu.route("GET", f"{obj}/describe{slash}", rest.describe, name=f"{obj}/describe")
        emu.route("GET", f"{obj}{slash}", rest.basic_info, name=obj)
        emu.route("POST", f"{obj}{slash}", rest.create, name=obj)


def register_records(emu: SalesforceHost) -> None:
    """Add the by-id and by-external-id routes (after updated/deleted are registered)."""
    rest = _Rest(emu)
    by_id = f"{API}/sobjects/{{sobject}}/{{record_id}}"
    emu.route("GET", by_id, rest.get)
    emu.route("PATCH", by_id, rest.update)
    emu.route("DELETE", by_id, rest.delete)
    by_ext = f"{API}/sobjects/{{sobject}}/{{field}}/{{value:path}}"
    emu.route("GET", by_ext, rest.get_by_external_id)
    emu.route("PATCH", by_ext, rest.upsert)
    emu.route("DELETE", by_ext, rest.delete_by_external_id)


class _Rest:
    def __init__(self, emu: SalesforceHost) -> None:
        self.emu = emu

    # ---- metadata

    def describe_global(self, req: EmuRequest) -> Response:
        version = api_version(req)
        return json_response(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [
                    describe_global_entry(o, version) for o in self.emu.store.schema.values()
                ],
            }
        )

    def describe(self, req: EmuRequest) -> Response:
        version = api_version(req)
        obj = self._sobject(req)
        return json_response(describe_sobject(obj, version, children_of(obj.name)))

    def basic_info(self, req: EmuRequest) -> Response:
        version = api_version(req)
        obj = self._sobject(req)
        recent = sorted(
            self.emu.store.live(obj.name), key=lambda r: r["LastModifiedDate"], reverse=True
        )[:3]
        fields = ["Id", "Name"] if "Name" in obj.fields else ["Id"]
        return json_response(
            {
                "objectDescribe": describe_global_entry(obj, version),
                "recentItems": [render(version, obj.name, r, fields) for r in recent],
            }
        )

    # ---- by id

    def create(self, req: EmuRequest) -> Response:
        api_version(req)
        obj = self._sobject(req)
        data = body_object(req)
        if any(k.lower() == "id" for k in data):
            raise HttpError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "cannot specify Id in an insert call",
                fields=["Id"],
            )
        try:
            rec = self.emu.store.create(obj.name, data, self.emu.integration_user_id)
        except SaveError as err:
            raise http_error(err) from err
        return json_response({"id": rec["Id"], "success": True, "errors": []}, 201)

    def get(self, req: EmuRequest) -> Response:
        version = api_version(req)
        obj = self._sobject(req)
        rec = self._record(obj, req.path_params["record_id"])
        if rec is None or rec["IsDeleted"]:
            raise HttpError(404, "NOT_FOUND", _NOT_FOUND)
        return json_response(render(version, obj.name, rec, self._fields(obj, req)))

    def update(self, req: EmuRequest) -> Response:
        api_version(req)
        obj = self._sobject(req)
        rec = self._record(obj, req.path_params["record_id"])
        if rec is None:
            raise HttpError(404, "NOT_FOUND", _NOT_FOUND)
        data = body_object(req)
        data = {k: v for k, v in data.items() if not (k.lower() == "id" and v == rec["Id"])}
        try:
            self.emu.store.update(obj.name, rec["Id"], data, self.emu.integration_user_id)
        except SaveError as err:
            raise http_error(err) from err
        return Response(status_code=204)

    def delete(self, req: EmuRequest) -> Response:
        api_version(req)
        obj = self._sobject(req)
        rec = self._record(obj, req.path_params["record_id"])
        if rec is None:
            raise HttpError(404, "NOT_FOUND", _NOT_FOUND)
        try:
            self.emu.store.delete(rec["Id"], self.emu.integration_user_id)
        except SaveError as err:
            raise http_error(err) from err
        return Response(status_code=204)

    # ---- by external id

    def get_by_external_id(self, req: EmuRequest) -> Response:
        version = api_version(req)
        obj = self._sobject(req)
        rec = self._one_external(req, obj, version)
        if isinstance(rec, Response):
            return rec
        return json_response(render(version, obj.name, rec, self._fields(obj, req)))

    def delete_by_external_id(self, req: EmuRequest) -> Response:
        version = api_version(req)
        obj = self._sobject(req)
        rec = self._one_external(req, obj, version)
        if isinstance(rec, Response):
            return rec
        try:
            self.emu.store.delete(rec["Id"], self.emu.integration_user_id)
        except SaveError as err:
            raise http_error(err) from err
        return Response(status_code=204)

    def upsert(self, req: EmuRequest) -> Response:
        version = api_version(req)
        obj = self._sobject(req)
        field, value = self._external_field(obj, req)
        data = body_object(req)
        for key, given in list(data.items()):
            if key.lower() == field.lower():
                if str(given).lower() != value.lower():
                    raise HttpError(
                        400,
                        "INVALID_FIELD",
                        f"{field}: the value in the body does not match the value in the URL",
                        fields=[field],
                    )
                del data[key]
        store = self.emu.store
        matches = store.match_external(obj.name, field, value)
        if len(matches) > 1:
            return _multiple(version, obj.name, matches)
        if not matches and req.q("updateOnly", "false") == "true":
            raise HttpError(404, "NOT_FOUND", _NOT_FOUND)
        try:
            rec, created = store.upsert(obj.name, field, value, data, self.emu.integration_user_id)
        except MultipleMatches as err:
            return _multiple(version, obj.name, [store.rows[obj.name][i] for i in err.ids])
        except SaveError as err:
            raise http_error(err) from err
        body = {"id": rec["Id"], "success": True, "errors": [], "created": created}
        if created:
            return json_response(body, 201)
        if version_number(version) < 46:
            return Response(status_code=204)
        return json_response(body, 200)

    # ---- helpers

    def _sobject(self, req: EmuRequest) -> SObject:
        return sobject_or_404(self.emu.store.schema, req.path_params["sobject"])

    def _record(self, obj: SObject, raw_id: str) -> Record | None:
        if to18(raw_id) is None:
            raise HttpError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {raw_id}",
            )
        found = self.emu.store.find(raw_id)
        return found[1] if found is not None and found[0] == obj.name else None

    def _fields(self, obj: SObject, req: EmuRequest) -> list[str] | None:
        wanted = req.q_list("fields")
        if not wanted:
            return None
        out = []
        for name in wanted:
            f = obj.field_ci(name.strip())
            if f is None:
                raise HttpError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on sobject of type {obj.name}",
                    fields=[name],
                )
            out.append(f.name)
        return out

    def _external_field(self, obj: SObject, req: EmuRequest) -> tuple[str, str]:
        name = req.path_params["field"]
        value = req.path_params["value"]
        f = obj.field_ci(name)
        if f is None or not (f.external_id or f.name == "Id") or not value:
            raise HttpError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {name}",
            )
        return f.name, value

    def _one_external(self, req: EmuRequest, obj: SObject, version: str) -> Record | Response:
        field, value = self._external_field(obj, req)
        matches = self.emu.store.match_external(obj.name, field, value)
        if not matches:
            raise HttpError(404, "NOT_FOUND", _NOT_FOUND)
        if len(matches) > 1:
            return _multiple(version, obj.name, matches)
        return matches[0]


def _multiple(version: str, obj: str, matches: list[dict[str, Any]]) -> Response:
    """300 Multiple Choices: the URLs of every matching record; nothing written."""
    return json_response([record_url(version, obj, r["Id"]) for r in matches], 300)
