"""SOQL over REST: ``query`` / ``queryAll`` with ``nextRecordsUrl`` paging."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, HttpError, json_response

from . import soql
from ._common import API, api_version, record_url
from ._host import SalesforceHost
from ._store import Record, Store

__all__ = ["QueryResult", "register", "run_soql"]

_BATCH_RE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_LOCATOR_RE = re.compile(r"^(01g[A-Za-z0-9]{15})-(\d+)$")
_MAX_CURSORS = 200


@dataclass
class QueryResult:
    """A query's full result: rows rendered for REST (with ``attributes``) and the source."""

    sobject: str
    rows: list[dict[str, Any]]
    total: int
    is_count: bool


def run_soql(store: Store, text: str, *, include_deleted: bool, version: str) -> QueryResult:
    """Parse, validate and run ``text``; 400 MALFORMED_QUERY / INVALID_FIELD / INVALID_TYPE."""
    try:
        query = soql.parse(text)
    except soql.MalformedQuery as err:
        raise HttpError(400, "MALFORMED_QUERY", err.message) from err
    obj = store.schema.get(query.sobject) or next(
        (o for o in store.schema.values() if o.name.lower() == query.sobject.lower()), None
    )
    if obj is None:
        raise HttpError(
            400,
            "INVALID_TYPE",
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
        )
    try:
        soql.validate_fields(query, obj.fields)
        joined = _Joiner(store, obj.name).attach(query)
    except soql.InvalidField as err:
        raise HttpError(400, "INVALID_FIELD", err.message) from err
    source = store.query_all_rows(obj.name) if include_deleted else store.live(obj.name)
    now = dt.datetime.fromtimestamp(store.clock(), dt.UTC)
    rows = [joined(r) for r in source]
    if query.is_count:
        return QueryResult(obj.name, [], soql.count(query, rows, now=now), True)
    selected = [r for r in rows if soql.matches(query.where, r, now=now)]
    selected = list(soql.sort_records(selected, query.order_by))
    selected = selected[query.offset or 0 :]
    if query.limit is not None:
        selected = selected[: query.limit]
    out = [
        _with_attributes(version, obj.name, row, soql.project(row, query.fields))
        for row in selected
    ]
    return QueryResult(obj.name, out, len(out), False)


class _Joiner:
    """Attaches parent records for relationship paths such as ``Account.Name``."""

    def __init__(self, store: Store, obj: str) -> None:
        self.store = store
        self.obj = store.schema[obj]
        self.relations: dict[str, str] = {}

    def attach(self, query: soql.Query) -> Any:
        for path in soql.field_references(query):
            if "." not in path:
                continue
            head, tail = path.split(".", 1)
            f = self.obj.relationship(head)
            if f is None:
                raise soql.InvalidField(f"Didn't understand relationship '{head}' in field path.")
            target = self.store.schema[f.reference_to[0]]
            if "." in tail or target.field_ci(tail) is None:
                raise soql.InvalidField(
                    f"No such column '{tail}' on entity '{target.name}'. If you are attempting "
                    "to use a custom field, be sure to append the '__c' after the custom field "
                    "name. Please reference your WSDL or the describe call for the appropriate "
                    "names."
                )
            self.relations[f.relationship_name or head] = f.name
        return self._join

    def _join(self, rec: Record) -> Record:
        if not self.relations:
            return rec
        out = dict(rec)
        for rel, lookup in self.relations.items():
            parent = self.store.find(rec[lookup]) if rec.get(lookup) else None
            out[rel] = {**parent[1], "_type": parent[0]} if parent else None
        return out


def _with_attributes(
    version: str, obj: str, source: Record, projected: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {"type": obj, "url": record_url(version, obj, source["Id"])}
    }
    for key, value in projected.items():
        parent = source.get(key)
        if isinstance(value, dict) and isinstance(parent, dict):
            out[key] = _with_attributes(version, parent["_type"], parent, value)
        else:
            out[key] = value
    return out


class _Cursors:
    """Server-side result sets behind ``nextRecordsUrl`` locators."""

    def __init__(self, emu: SalesforceHost) -> None:
        self.emu = emu
        self.results: dict[str, QueryResult] = {}

    def page(
        self, version: str, result: QueryResult, start: int, size: int, cursor: str | None
    ) -> dict[str, Any]:
        end = start + size
        body: dict[str, Any] = {"totalSize": result.total, "done": end >= len(result.rows)}
        if not body["done"]:
            if cursor is None:
                cursor = self.emu.store.ids.new("01g")
                self.results[cursor] = result
                while len(self.results) > _MAX_CURSORS:
                    del self.results[next(iter(self.results))]
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{cursor}-{end}"
        elif cursor is not None:
            self.results.pop(cursor, None)
        body["records"] = result.rows[start:end]
        return body


def register(emu: SalesforceHost) -> None:
    cursors = _Cursors(emu)
    emu.cursors = cursors.results

    def batch_size(req: EmuRequest) -> int:
        match = _BATCH_RE.search(req.headers.get("sforce-query-options", ""))
        if match is None:
            return emu.query_batch_size
        return min(max(int(match.group(1)), 200), 2000)

    def first_page(req: EmuRequest, include_deleted: bool) -> Response:
        version = api_version(req)
        text = req.q("q")
        if not text:
            raise HttpError(400, "MALFORMED_QUERY", "A query string is required (q parameter)")
        result = run_soql(emu.store, text, include_deleted=include_deleted, version=version)
        return json_response(cursors.page(version, result, 0, batch_size(req), None))

    def next_page(req: EmuRequest) -> Response:
        version = api_version(req)
        match = _LOCATOR_RE.match(req.path_params["locator"])
        result = cursors.results.get(match.group(1)) if match else None
        if match is None or result is None:
            raise HttpError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return json_response(
            cursors.page(version, result, int(match.group(2)), batch_size(req), match.group(1))
        )

    def handler(include_deleted: bool) -> Callable[[EmuRequest], Response]:
        return lambda req: first_page(req, include_deleted)

    for endpoint, deleted in (("query", False), ("queryAll", True)):
        for slash in ("", "/"):
            emu.route("GET", f"{API}/{endpoint}{slash}", handler(deleted), name=f"{API}/{endpoint}")
        emu.route("GET", f"{API}/{endpoint}/{{locator}}", next_page)
