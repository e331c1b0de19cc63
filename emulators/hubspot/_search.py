"""CRM search: filter groups, one sort, paging capped at 10,000 results, a lagging index.

HubSpot's search index is eventually consistent: "it may take a few moments for newly
created or updated objects to appear in search results" ("Search the CRM",
https://developers.hubspot.com/docs/api/crm/search; docs/fidelity.md). The emulator keeps
each record's recent versions and shows search the newest one older than ``search_lag_s``
(``CrmStore.search_view``), so an edit is invisible, or visible in its old version with its
old ``lastmodifieddate``, for that long. The lag is a constructor argument and can be changed
at run time (``POST /_emulator/search_lag`` ``{"seconds": N}``), which is how tests model
writes that are indexed after later ones.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, json_response

from ._host import HubSpotHost
from ._schema import ObjectType, PropertyDef, resolve_type
from ._store import Record
from ._util import bad_request, iso_ms, to_epoch_ms, to_number

MAX_GROUPS, MAX_PER_GROUP, MAX_FILTERS = 5, 10, 25
MAX_LIMIT, MAX_RESULTS, MAX_QUERY = 200, 10_000, 3000
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
_TEXT_PROPS = frozenset(
    {"email", "firstname", "lastname", "phone", "company", "name", "domain"}
    | {"dealname", "hs_order_name", "hs_sku"}
)
_SPLIT = re.compile(r"[^0-9a-z]+")


def _int(value: Any, default: int, name: str) -> int:
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer, got {value!r}") from exc


def _key(defn: PropertyDef, value: Any) -> Any:
    """A comparable key for a stored or filter value; 400 for a filter value of the wrong type."""
    if defn.type == "number":
        num = to_number(value)
        if num is None:
            raise bad_request(f"{value} is not a valid number for property {defn.name}")
        return num
    if defn.type in ("date", "datetime"):
        ms = to_epoch_ms(value)
        if ms is None:
            raise bad_request(f"{value} is not a valid date for property {defn.name}")
        return ms
    return str(value).lower()


def _equals(defn: PropertyDef, stored: str, value: Any) -> bool:
    if defn.type == "enumeration" and defn.field_type == "checkbox":
        return str(value).lower() in {p.lower() for p in stored.split(";")}
    return bool(_key(defn, stored) == _key(defn, value))


def _tokens(text: str) -> set[str]:
    """Words, the parts around ``@`` (so an email's domain is a token) and alphanumeric runs."""
    low = text.lower()
    out = {low}
    for word in re.split(r"[\s,;]+", low):
        out.add(word)
        out.update(word.split("@"))
        out.update(_SPLIT.split(word))
    out.discard("")
    return out


def _has_token(stored: str, value: Any) -> bool:
    needle = str(value).lower()
    tokens = _tokens(stored)
    if "*" in needle:
        return any(fnmatch.fnmatchcase(t, needle) for t in tokens)
    return needle in tokens


def _check(defn: PropertyDef, f: dict[str, Any], props: dict[str, str]) -> bool:
    op = f["operator"]
    stored = props.get(defn.name)
    if op == "HAS_PROPERTY":
        return stored is not None
    if op == "NOT_HAS_PROPERTY":
        return stored is None
    if op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN") and stored is None:
        return True
    if stored is None:
        return False
    value, values = f.get("value"), f.get("values") or []
    tests: dict[str, Callable[[], bool]] = {
        "EQ": lambda: _equals(defn, stored, value),
        "NEQ": lambda: not _equals(defn, stored, value),
        "IN": lambda: any(_equals(defn, stored, v) for v in values),
        "NOT_IN": lambda: not any(_equals(defn, stored, v) for v in values),
        "LT": lambda: _key(defn, stored) < _key(defn, value),
        "LTE": lambda: _key(defn, stored) <= _key(defn, value),
        "GT": lambda: _key(defn, stored) > _key(defn, value),
        "GTE": lambda: _key(defn, stored) >= _key(defn, value),
        "BETWEEN": lambda: (
            _key(defn, value) <= _key(defn, stored) <= _key(defn, f.get("highValue"))
        ),
        "CONTAINS_TOKEN": lambda: _has_token(stored, value),
        "NOT_CONTAINS_TOKEN": lambda: not _has_token(stored, value),
    }
    return tests[op]()


class SearchRoutes:
    """``POST /crm/v3/objects/{type}/search``."""

    def __init__(self, emu: HubSpotHost) -> None:
        self.emu = emu
        self.store = emu.store

    def register(self) -> None:
        self.emu.route("POST", "/crm/v3/objects/{object_type}/search", self.search)
        admin = {"counted": False, "faults": False}
        self.emu.route("POST", "/_emulator/search_lag", self.set_lag, **admin)

    def set_lag(self, req: EmuRequest) -> Response:
        """Admin: seconds before later writes show in search (0: at once)."""
        seconds = (req.json() or {}).get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise bad_request("seconds must be a number >= 0")
        self.store.search_lag_s = float(seconds)
        return json_response({"seconds": self.store.search_lag_s})

    def _validate(self, ot: ObjectType, body: dict[str, Any]) -> list[list[dict[str, Any]]]:
        groups = body.get("filterGroups") or []
        if len(groups) > MAX_GROUPS:
            raise bad_request(f"Too many filter groups: at most {MAX_GROUPS} are allowed")
        defs = self.store.properties[ot.name]
        out: list[list[dict[str, Any]]] = []
        total = 0
        for group in groups:
            filters = (group or {}).get("filters") or []
            if len(filters) > MAX_PER_GROUP:
                raise bad_request(
                    f"Too many filters in a group: at most {MAX_PER_GROUP} are allowed"
                )
            total += len(filters)
            for f in filters:
                if f.get("operator") not in OPERATORS:
                    raise bad_request(f"Unknown filter operator: {f.get('operator')}")
                if f.get("propertyName") not in defs:
                    raise bad_request(
                        f"There was a problem with the request: property "
                        f"'{f.get('propertyName')}' does not exist on {ot.name}"
                    )
                if f["operator"] in ("IN", "NOT_IN") and not isinstance(f.get("values"), list):
                    raise bad_request(f"Operator {f['operator']} requires 'values'")
                if f["operator"] == "BETWEEN" and f.get("highValue") is None:
                    raise bad_request("Operator BETWEEN requires 'highValue'")
            out.append(filters)
        if total > MAX_FILTERS:
            raise bad_request(f"Too many filters: at most {MAX_FILTERS} are allowed in total")
        return out

    def _sort(self, ot: ObjectType, body: dict[str, Any]) -> tuple[PropertyDef | None, bool]:
        sorts = body.get("sorts") or []
        if len(sorts) > 1:
            raise bad_request("Only one sort is allowed per search request")
        if not sorts:
            return None, False
        spec = sorts[0]
        if isinstance(spec, str):
            name, desc = spec.lstrip("-"), spec.startswith("-")
        else:
            name = spec.get("propertyName", "")
            desc = str(spec.get("direction", "ASCENDING")).upper() == "DESCENDING"
        defn = self.store.properties[ot.name].get(name)
        if defn is None:
            raise bad_request(f"Cannot sort by unknown property '{name}'")
        return defn, desc

    def _text_match(self, props: dict[str, str], query: str) -> bool:
        words = [w for w in _SPLIT.split(query.lower()) if w]
        tokens: set[str] = set()
        for name in _TEXT_PROPS:
            if name in props:
                tokens |= _tokens(props[name])
        return all(any(t.startswith(w) for t in tokens) for w in words)

    def search(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["object_type"])
        body = req.json() or {}
        groups = self._validate(ot, body)
        sort_def, desc = self._sort(ot, body)
        limit = _int(body.get("limit"), 10, "limit")
        if limit > MAX_LIMIT or limit < 0:
            raise bad_request(f"limit must be between 0 and {MAX_LIMIT}, got {limit}")
        after = _int(body.get("after"), 0, "after")
        if after >= MAX_RESULTS:
            raise bad_request(
                f"Paging past {MAX_RESULTS} results is not supported; narrow the filters instead "
                "(for example on the last modified date)"
            )
        query = str(body.get("query") or "")
        if len(query) > MAX_QUERY:
            raise bad_request(f"query must be at most {MAX_QUERY} characters")
        defs = self.store.properties[ot.name]
        hits: list[tuple[Record, dict[str, str]]] = []
        for rec in self.store.all(ot):
            view = None if rec.archived else self.store.search_view(rec)
            if view is None:
                continue
            if groups and not any(
                all(_check(defs[f["propertyName"]], f, view) for f in g) for g in groups
            ):
                continue
            if query and not self._text_match(view, query):
                continue
            hits.append((rec, view))
        if sort_def is not None:
            hits.sort(key=lambda h: self._sort_key(sort_def, h[1], desc))
            if desc:
                hits.reverse()
        end = min(after + limit, MAX_RESULTS)
        wanted = body.get("properties") or list(ot.defaults)
        page = [self._row(rec, view, wanted) for rec, view in hits[after:end]]
        out: dict[str, Any] = {"total": len(hits), "results": page}
        if end < len(hits):
            out["paging"] = {"next": {"after": str(end)}}
        return json_response(out)

    @staticmethod
    def _sort_key(defn: PropertyDef, view: dict[str, str], desc: bool) -> tuple[int, Any, int]:
        oid = int(view["hs_object_id"])
        stored = view.get(defn.name)
        if stored is None:
            return (1 if not desc else -1, 0, oid)
        return (0, _key(defn, stored), oid)

    @staticmethod
    def _row(rec: Record, view: dict[str, str], wanted: list[str]) -> dict[str, Any]:
        names = list(dict.fromkeys([*wanted, *rec.type.basics]))
        return {
            "id": rec.id,
            "properties": {n: view.get(n) for n in names},
            "createdAt": iso_ms(rec.created),
            "updatedAt": iso_ms(rec.updated),
            "archived": False,
        }
