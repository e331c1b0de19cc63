"""CRM v3 batch routes: create, read, update, upsert, archive (201/200, 207 on partial failure).

A write batch answers 207 Multi-Status only where HubSpot documents it: when multi-status
error handling is on, i.e. every input carries a unique ``objectWriteTraceId``, and some
inputs failed ("207 Multi-Status ... occurs when you've enabled multi-status error handling
for the object API batch create endpoints",
https://developers.hubspot.com/docs/api-reference/error-handling, "Multi-status errors").
Without trace ids one failed input fails the whole request with that input's error; with all
inputs fine the answer is 200 (201 for create). Batch read keeps its 207 for missing ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, FaultRule, HttpError, json_response

from ._host import HubSpotHost
from ._objects import API, ObjectRoutes, flag, refuse_read_only
from ._schema import ObjectType, resolve_type
from ._store import Record
from ._util import bad_request, batch_body, require_inputs, standard_error, validation_error

#: applies one planned write and returns its result row
Apply = Callable[[], dict[str, Any]]


@dataclass
class _Outcome:
    index: int
    ids: list[str]
    error: HttpError | None = None
    apply: Apply | None = None
    soft: bool = False  # a not-found or injected failure: always reported per input


def _trace_ids_unique(inputs: list[Any]) -> bool:
    """Per-input 207s need a distinct ``objectWriteTraceId`` on every input."""
    traces = [i.get("objectWriteTraceId") for i in inputs if isinstance(i, dict)]
    return len(traces) == len(inputs) and all(traces) and len(set(traces)) == len(traces)


def _injected(item: dict[str, Any], rule: FaultRule | None) -> HttpError:
    """An injected per-input failure: the rule's ``status``/``code`` when it names a code
    (``{"kind": "partial", "status": 500, "code": "INTERNAL_ERROR"}``: a transient one),
    else a validation error on the input's first property."""
    if rule is not None and rule.code:
        return HttpError(rule.status, rule.code, rule.message or "Injected per-input failure")
    props = item.get("properties") or {}
    name = next(iter(props), "properties")
    value = props.get(name, "")
    return validation_error(
        [
            {
                "isValid": False,
                "message": f"{value} was not a valid value for {name}",
                "error": "INVALID_PROPERTY_VALUE",
                "name": name,
            }
        ]
    )


def _duplicates(values: list[str]) -> list[str]:
    seen: set[str] = set()
    dupes: set[str] = set()
    for v in values:
        (dupes if v in seen else seen).add(v)
    return sorted(dupes)


class BatchRoutes:
    """The ``/crm/v3/objects/{type}/batch/*`` endpoints."""

    def __init__(self, emu: HubSpotHost, objects: ObjectRoutes) -> None:
        self.emu = emu
        self.objects = objects
        self.store = emu.store

    def register(self) -> None:
        base = "/crm/v3/objects/{object_type}/batch"
        for op, handler in (
            ("create", self.create),
            ("read", self.read),
            ("update", self.update),
            ("upsert", self.upsert),
            ("archive", self.archive),
        ):
            self.emu.route("POST", f"{base}/{op}", handler)

    # ---- engine

    def _run(
        self,
        req: EmuRequest,
        ot: ObjectType,
        inputs: list[Any],
        plan: Callable[[int, dict[str, Any]], _Outcome],
        ok_status: int,
    ) -> Response:
        started = self.emu.clock()
        failing, rule = self.emu.faults.partial_fault(req.template, len(inputs))
        self._reject_duplicate_unique_values(ot, inputs)
        outcomes: list[_Outcome] = []
        for i, item in enumerate(inputs):
            if not isinstance(item, dict):
                raise bad_request(f"Invalid input JSON: inputs[{i}] must be an object")
            if i in failing:
                ids = [str(item["id"])] if "id" in item else []
                outcomes.append(_Outcome(i, ids, _injected(item, rule), soft=True))
                continue
            try:
                outcomes.append(plan(i, item))
            except HttpError as err:
                ids = [str(item["id"])] if "id" in item else []
                outcomes.append(_Outcome(i, ids, err, soft=err.status == 404))
        failed = [o.error for o in outcomes if o.error is not None]
        if failed and not _trace_ids_unique(inputs):
            # without trace ids there is no multi-status: one bad input fails the whole batch
            hard = [
                e
                for e, o in zip(failed, [o for o in outcomes if o.error], strict=True)
                if not o.soft
            ]
            raise (hard or failed)[0]
        results = [o.apply() for o in outcomes if o.apply is not None]
        errors = self._errors(ot, outcomes, inputs)
        return json_response(
            batch_body(results, errors, started, self.emu.clock()), 207 if errors else ok_status
        )

    def _errors(
        self, ot: ObjectType, outcomes: list[_Outcome], inputs: list[Any]
    ) -> list[dict[str, Any]]:
        errors = []
        missing = [
            i for o in outcomes if o.error is not None and o.error.status == 404 for i in o.ids
        ]
        if missing:
            errors.append(standard_error(_missing(ot, missing), missing))
        for o in outcomes:
            if o.error is None or o.error.status == 404:
                continue
            err = standard_error(o.error, o.ids or None)
            trace = inputs[o.index].get("objectWriteTraceId")
            if trace:
                err["context"]["objectWriteTraceId"] = [str(trace)]
            errors.append(err)
        return errors

    def _reject_duplicate_unique_values(self, ot: ObjectType, inputs: list[Any]) -> None:
        claimed: dict[tuple[str, str], int] = {}
        for i, item in enumerate(inputs):
            props = item.get("properties") if isinstance(item, dict) else None
            for name, value in (props or {}).items():
                if value in (None, "") or not self.store.is_unique(ot, name):
                    continue
                key = (name, str(value).strip().lower() if name == "email" else str(value))
                if key in claimed:
                    raise bad_request(
                        f"Duplicate values found for unique property {name} in batch input: "
                        f"{key[1]} (inputs {claimed[key]} and {i})"
                    )
                claimed[key] = i

    # ---- routes

    def create(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["object_type"])
        inputs = require_inputs(req.json())

        def plan(i: int, item: dict[str, Any]) -> _Outcome:
            clean = self.objects.check_write(ot, item.get("properties"), None)
            links = self.objects.resolve_associations(ot, item.get("associations"))

            def apply() -> dict[str, Any]:
                rec = self.store.create(ot, clean, API)
                self.objects.associate(rec, links)
                return _with_trace(rec.to_write_json(), item)

            return _Outcome(i, [], apply=apply)

        return self._run(req, ot, inputs, plan, 201)

    def update(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["object_type"])
        inputs = require_inputs(req.json())
        _no_duplicate_ids(inputs)

        def plan(i: int, item: dict[str, Any]) -> _Outcome:
            rid = str(item.get("id", ""))
            rec = self.objects.locate(ot, rid, item.get("idProperty"))
            clean = self.objects.check_write(ot, item.get("properties"), rec.id)

            def apply() -> dict[str, Any]:
                self.store.update(rec, clean, API)
                return _with_trace(rec.to_write_json(), item)

            return _Outcome(i, [rid], apply=apply)

        return self._run(req, ot, inputs, plan, 200)

    def upsert(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["object_type"])
        inputs = require_inputs(req.json())
        _no_duplicate_ids(inputs)
        default_prop = req.q("idProperty")
        for item in inputs:
            prop = (item.get("idProperty") if isinstance(item, dict) else None) or default_prop
            if not prop:
                raise bad_request("idProperty is required for a batch upsert")
            if not self.store.is_unique(ot, prop):
                raise bad_request(
                    f"{prop} is not a unique property; batch upsert needs a property with "
                    "hasUniqueValue=true" + (" or email" if ot.name == "contacts" else "")
                )

        def plan(i: int, item: dict[str, Any]) -> _Outcome:
            prop = item.get("idProperty") or default_prop or ""
            value = str(item.get("id", ""))
            rec = self.store.find(ot, prop, value)
            if rec is not None:
                clean = self.objects.check_write(ot, item.get("properties"), rec.id)
                return _Outcome(i, [value], apply=self._upsert_apply(rec, clean, item))
            if prop == "hs_object_id":
                raise HttpError(404, "OBJECT_NOT_FOUND", "resource not found")
            props = {**(item.get("properties") or {}), prop: value}
            clean = self.objects.check_write(ot, props, None)
            return _Outcome(i, [value], apply=self._upsert_apply(None, clean, item, ot))

        return self._run(req, ot, inputs, plan, 200)

    def _upsert_apply(
        self,
        rec: Record | None,
        clean: dict[str, str],
        item: dict[str, Any],
        ot: ObjectType | None = None,
    ) -> Apply:
        def apply() -> dict[str, Any]:
            if rec is None:
                assert ot is not None
                created = self.store.create(ot, clean, API)
                return {**_with_trace(created.to_write_json(), item), "new": True}
            self.store.update(rec, clean, API)
            return {**_with_trace(rec.to_write_json(), item), "new": False}

        return apply

    def read(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["object_type"])
        body = req.json()
        limit = 50 if isinstance(body, dict) and body.get("propertiesWithHistory") else 100
        inputs = require_inputs(body, limit=limit)
        started = self.emu.clock()
        archived = flag(req, "archived")
        wanted = body.get("properties") or None
        history = [str(n) for n in body.get("propertiesWithHistory") or []]
        prop = body.get("idProperty") or "hs_object_id"
        if prop != "hs_object_id" and not self.store.is_unique(ot, prop):
            raise bad_request(f"{prop} is not a unique property and cannot be used as idProperty")
        results, missing, seen = [], [], set()
        for item in inputs:
            rid = str(item.get("id", "")) if isinstance(item, dict) else ""
            rec = self.store.find(ot, prop, rid, archived=archived)
            if rec is None:
                missing.append(rid)
            elif rec.id not in seen:
                seen.add(rec.id)
                results.append(_with_history(rec.to_json(wanted), rec, history))
        errors = [standard_error(_missing(ot, missing), missing)] if missing else []
        return json_response(
            batch_body(results, errors, started, self.emu.clock()), 207 if errors else 200
        )

    def archive(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["object_type"])
        refuse_read_only(ot)
        for item in require_inputs(req.json()):
            rec = self.store.get(ot, str(item.get("id", ""))) if isinstance(item, dict) else None
            if rec is not None:
                self.store.archive(rec, API)
        return Response(status_code=204)


def _with_history(row: dict[str, Any], rec: Any, names: list[str]) -> dict[str, Any]:
    """``propertiesWithHistory``: each asked property's values, newest first, with who set it."""
    if names:
        row["propertiesWithHistory"] = {n: list(rec.history.get(n, [])) for n in names}
    return row


def _with_trace(row: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    if item.get("objectWriteTraceId"):
        row["objectWriteTraceId"] = str(item["objectWriteTraceId"])
    return row


def _missing(ot: ObjectType, ids: list[str]) -> HttpError:
    return HttpError(
        404,
        "OBJECT_NOT_FOUND",
        f"Could not get some {ot.name} objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        context={"ids": ids},
    )


def _no_duplicate_ids(inputs: list[Any]) -> None:
    ids = [str(i.get("id")) for i in inputs if isinstance(i, dict) and i.get("id") is not None]
    dupes = _duplicates(ids)
    if dupes:
        raise bad_request(f"Duplicate IDs found in batch input: {dupes}. IDs must be unique")
