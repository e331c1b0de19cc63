"""sObject Collections: create, update, upsert, delete and retrieve up to 200 records per
call, with per-record results (``statusCode`` errors) and ``allOrNone`` rollback.

A request that is not well formed is refused as a whole, before any record is saved:
"If the request isn't well formed, the API returns a 400 Bad Request HTTP Status"
(REST API Developer Guide, "Create Records Using sObject Collections",
https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-create.html,
and its update/upsert siblings). Salesforce reads the body into typed sObjects first, so an
unknown field (``INVALID_FIELD``, "No such column 'X' on sobject of type Y") or a value its JSON
reader cannot bind to the field's type (``JSON_PARSER_ERROR``, "Cannot deserialize instance of
double from VALUE_STRING value abc ...") in ANY record answers one 400 with the usual error
array ``[{"message", "errorCode", "fields"?}]`` for the whole call; see :func:`_readable`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, HttpError, json_response

from ._common import API, api_version, body_object, render, sobject_or_404
from ._host import SalesforceHost
from ._ids import to18
from ._store import MultipleMatches
from ._values import SaveError, unreadable

__all__ = ["MAX_RECORDS", "register"]

MAX_RECORDS = 200
_ROLLED_BACK = SaveError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)
Outcome = dict[str, Any]


class _RollBack(Exception):
    """Raised inside a store transaction to undo an allOrNone batch."""


def register(emu: SalesforceHost) -> None:
    col = _Collections(emu)
    path = f"{API}/composite/sobjects"
    emu.route("POST", path, col.create)
    emu.route("PATCH", path, col.update)
    emu.route("DELETE", path, col.delete)
    emu.route("GET", f"{path}/{{sobject}}", col.retrieve)
    emu.route("POST", f"{path}/{{sobject}}", col.retrieve)
    emu.route("PATCH", f"{path}/{{sobject}}/{{field}}", col.upsert)


class _Collections:
    def __init__(self, emu: SalesforceHost) -> None:
        self.emu = emu

    @property
    def user(self) -> str:
        return self.emu.integration_user_id

    # ---- handlers

    def create(self, req: EmuRequest) -> Response:
        api_version(req)
        records, all_or_none = _batch(req)
        self._readable(records)

        def one(rec: dict[str, Any]) -> Outcome:
            obj = self._type(rec)
            if any(k.lower() == "id" for k in rec):
                raise SaveError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
                )
            return {"id": self.emu.store.create(obj, rec, self.user)["Id"]}

        return self._run(req, records, all_or_none, one)

    def update(self, req: EmuRequest) -> Response:
        api_version(req)
        records, all_or_none = _batch(req)
        self._readable(records)

        def one(rec: dict[str, Any]) -> Outcome:
            obj = self._type(rec)
            raw = next((v for k, v in rec.items() if k.lower() == "id"), None)
            if not raw:
                raise SaveError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            rid = to18(str(raw))
            if rid is None or self.emu.store.object_of(rid) != obj:
                raise SaveError(
                    "MALFORMED_ID", f"{obj} ID: id value of incorrect type: {raw}", ["Id"]
                )
            body = {k: v for k, v in rec.items() if k.lower() != "id"}
            self.emu.store.update(obj, rid, body, self.user)
            return {"id": rid}

        return self._run(req, records, all_or_none, one, ids=_ids_of(records))

    def upsert(self, req: EmuRequest) -> Response:
        api_version(req)
        sobj = sobject_or_404(self.emu.store.schema, req.path_params["sobject"])
        f = sobj.field_ci(req.path_params["field"])
        if f is None or not (f.external_id or f.name == "Id"):
            raise HttpError(
                400,
                "INVALID_FIELD",
                f"Field name provided, {req.path_params['field']} is not an External ID or "
                f"indexed field for {sobj.name}",
            )
        records, all_or_none = _batch(req)
        self._readable(records, default=sobj.name)

        def one(rec: dict[str, Any]) -> Outcome:
            if self._type(rec, default=sobj.name) != sobj.name:
                raise SaveError("INVALID_TYPE", f"Record type must be {sobj.name}")
            value = next((v for k, v in rec.items() if k.lower() == f.name.lower()), None)
            if value in (None, ""):
                raise SaveError("MISSING_ARGUMENT", f"{f.name} not specified", [f.name])
            try:
                row, created = self.emu.store.upsert(sobj.name, f.name, value, rec, self.user)
            except MultipleMatches as err:
                raise SaveError("DUPLICATE_EXTERNAL_ID", str(err), [f.name]) from err
            return {"id": row["Id"], "created": created}

        return self._run(req, records, all_or_none, one, upsert=True)

    def delete(self, req: EmuRequest) -> Response:
        api_version(req)
        ids = req.q_list("ids")
        if not ids:
            raise HttpError(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > MAX_RECORDS:
            raise HttpError(400, "EXCEEDED_ID_LIMIT", _too_many())
        all_or_none = (req.q("allOrNone") or "false").lower() == "true"

        def one(raw: str) -> Outcome:
            rid = to18(raw)
            if rid is None:
                raise SaveError("MALFORMED_ID", f"malformed id {raw}")
            self.emu.store.delete(rid, self.user)
            return {"id": rid}

        return self._run(req, ids, all_or_none, one, ids=[to18(i) for i in ids])

    def retrieve(self, req: EmuRequest) -> Response:
        version = api_version(req)
        sobj = sobject_or_404(self.emu.store.schema, req.path_params["sobject"])
        body = req.json() if req.method == "POST" else None
        ids = body.get("ids", []) if isinstance(body, dict) else req.q_list("ids")
        wanted = body.get("fields", []) if isinstance(body, dict) else req.q_list("fields")
        if not ids or not wanted:
            raise HttpError(400, "MISSING_ARGUMENT", "ids and fields are required")
        fields = []
        for name in wanted:
            f = sobj.field_ci(name)
            if f is None:
                raise HttpError(
                    400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobj.name}'"
                )
            fields.append(f.name)
        out: list[dict[str, Any] | None] = []
        for raw in ids:
            found = self.emu.store.find(str(raw))
            ok = found is not None and found[0] == sobj.name and not found[1]["IsDeleted"]
            out.append(render(version, sobj.name, found[1], fields) if ok and found else None)
        return json_response(out)

    # ---- the shared per-record loop

    def _run(
        self,
        req: EmuRequest,
        items: list[Any],
        all_or_none: bool,
        one: Callable[[Any], Outcome],
        *,
        ids: list[str | None] | None = None,
        upsert: bool = False,
    ) -> Response:
        locked = self.emu.faults.partial_failures(req.template, len(items))
        results: list[Outcome | SaveError] = []
        try:
            with self.emu.store.transaction():
                for index, item in enumerate(items):
                    results.append(self._attempt(index, item, one, locked, ids))
                if all_or_none and any(isinstance(r, SaveError) for r in results):
                    raise _RollBack
        except _RollBack:
            results = [r if isinstance(r, SaveError) else _ROLLED_BACK for r in results]
        body = []
        for index, result in enumerate(results):
            known = ids[index] if ids else None
            if isinstance(result, SaveError):
                entry: Outcome = {"success": False, "errors": [result.as_record_error()]}
                if known:
                    entry = {"id": known, **entry}
                body.append(entry)
                continue
            entry = {"id": result["id"], "success": True, "errors": []}
            if upsert:
                entry["created"] = result["created"]
            body.append(entry)
        return json_response(body)

    def _attempt(
        self,
        index: int,
        item: Any,
        one: Callable[[Any], Outcome],
        locked: set[int],
        ids: list[str | None] | None,
    ) -> Outcome | SaveError:
        if index in locked:
            known = (ids[index] if ids else None) or ""
            return SaveError(
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record or 1 records: {known}",
            )
        try:
            with self.emu.store.transaction():
                return one(item)
        except SaveError as err:
            return err

    def _readable(self, records: list[Any], default: str | None = None) -> None:
        """Refuse the whole call (400) when any record names an unknown field or carries a
        value that cannot be read as its field's type, as Salesforce does (module doc).
        Records whose type is missing or unknown are left to the per-record INVALID_TYPE."""
        for rec in records:
            if not isinstance(rec, dict):
                continue
            try:
                sobj = self.emu.store.schema[self._type(rec, default=default)]
            except SaveError:
                continue
            for key, raw in rec.items():
                if key == "attributes":
                    continue
                f = sobj.field_ci(key)
                if f is None:
                    if sobj.relationship(key) is not None and isinstance(raw, dict):
                        continue
                    raise HttpError(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{key}' on sobject of type {sobj.name}",
                        fields=[key],
                    )
                message = unreadable(f, raw)
                if message is not None:
                    raise HttpError(400, "JSON_PARSER_ERROR", message)

    def _type(self, rec: Any, default: str | None = None) -> str:
        if not isinstance(rec, dict):
            raise SaveError("JSON_PARSER_ERROR", "Each record must be a JSON object")
        attrs = rec.get("attributes")
        name = attrs.get("type") if isinstance(attrs, dict) else None
        name = name or default
        if not name:
            raise SaveError("INVALID_TYPE", "Must send a concrete entity type.")
        try:
            return sobject_or_404(self.emu.store.schema, str(name)).name
        except HttpError:
            raise SaveError("INVALID_TYPE", f"sObject type '{name}' is not supported.") from None


def _too_many() -> str:
    return f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call"


def _batch(req: EmuRequest) -> tuple[list[Any], bool]:
    body = body_object(req)
    records = body.get("records")
    if not isinstance(records, list) or not records:
        raise HttpError(400, "INVALID_FIELD", "The records field is required and must be a list")
    if len(records) > MAX_RECORDS:
        raise HttpError(400, "EXCEEDED_ID_LIMIT", _too_many())
    return records, bool(body.get("allOrNone", False))


def _ids_of(records: list[Any]) -> list[str | None]:
    out: list[str | None] = []
    for rec in records:
        raw = (
            next((v for k, v in rec.items() if k.lower() == "id"), None)
            if isinstance(rec, dict)
            else None
        )
        out.append(to18(str(raw)) if raw else None)
    return out
