"""Helpers shared by the route modules: paths, sObject lookup, record rendering, errors."""

from __future__ import annotations

import re
from typing import Any

from emulators._base import EmuRequest, HttpError

from ._schema import SObject
from ._values import SaveError

__all__ = [
    "API",
    "api_version",
    "body_object",
    "http_error",
    "record_url",
    "render",
    "sobject_or_404",
    "version_number",
]

API = "/services/data/{version}"
_VERSION_RE = re.compile(r"^v(\d+)\.(\d)$")
_NOT_FOUND = "The requested resource does not exist"


def api_version(req: EmuRequest) -> str:
    """The request's ``vNN.N`` segment; 404 when it is not one."""
    version = req.path_params.get("version", "")
    if not _VERSION_RE.match(version):
        raise HttpError(404, "NOT_FOUND", _NOT_FOUND)
    return version


def version_number(version: str) -> float:
    return float(version[1:])


def sobject_or_404(schema: dict[str, SObject], name: str) -> SObject:
    """The sObject named in a URL (case-insensitive), else 404 NOT_FOUND."""
    found = schema.get(name) or next(
        (o for o in schema.values() if o.name.lower() == name.lower()), None
    )
    if found is None:
        raise HttpError(404, "NOT_FOUND", _NOT_FOUND)
    return found


def record_url(version: str, obj: str, rid: str) -> str:
    return f"/services/data/{version}/sobjects/{obj}/{rid}"


def render(
    version: str, obj: str, rec: dict[str, Any], fields: list[str] | None = None
) -> dict[str, Any]:
    """A record as the REST API returns it: ``attributes`` first, then the fields."""
    out: dict[str, Any] = {"attributes": {"type": obj, "url": record_url(version, obj, rec["Id"])}}
    for name in fields if fields is not None else list(rec):
        out[name] = rec.get(name)
    return out


def http_error(err: SaveError) -> HttpError:
    """A single-record REST error (``errorCode`` array body) for a save failure."""
    status = 404 if err.code in {"NOT_FOUND", "ENTITY_IS_DELETED"} else 400
    return HttpError(status, err.code, err.message, fields=err.fields)


def body_object(req: EmuRequest) -> dict[str, Any]:
    """The JSON object body of a write; 400 JSON_PARSER_ERROR otherwise."""
    data = req.json()
    if not isinstance(data, dict):
        raise HttpError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return data
