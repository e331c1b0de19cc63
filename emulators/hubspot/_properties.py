"""Properties API: list, read, create (with ``hasUniqueValue``), update, archive; groups.

A property's ``groupName`` must name an existing property group of its object type; HubSpot
answers a create naming an unknown group with a 400 VALIDATION_ERROR (the Properties guide,
https://developers.hubspot.com/docs/api-reference/latest/crm/properties/guide, has properties
go into existing groups and advises integrations to create their own group), so an integration
creates its group first (``POST /crm/v3/properties/{objectType}/groups``,
https://developers.hubspot.com/docs/api-reference/2026-03/crm/properties/property-groups/create-property).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, HttpError, json_response

from ._host import HubSpotHost
from ._schema import PropertyDef, resolve_type
from ._util import bad_request

TYPES = {"string", "number", "date", "datetime", "enumeration", "bool"}
FIELD_TYPES = {
    "textarea",
    "text",
    "date",
    "file",
    "number",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "calculation_equation",
    "phonenumber",
    "html",
}
MAX_UNIQUE = 10
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _options(raw: Any) -> list[dict[str, Any]]:
    out = []
    for i, o in enumerate(raw or []):
        if not isinstance(o, dict) or "value" not in o or "label" not in o:
            raise bad_request("Each option needs a label and a value")
        out.append(
            {
                "label": str(o["label"]),
                "value": str(o["value"]),
                "description": str(o.get("description") or ""),
                "displayOrder": int(o.get("displayOrder", i)),
                "hidden": bool(o.get("hidden", False)),
            }
        )
    return out


class PropertyRoutes:
    """``/crm/v3/properties/{objectType}[/{propertyName}]``."""

    def __init__(self, emu: HubSpotHost) -> None:
        self.emu = emu
        self.store = emu.store

    def register(self) -> None:
        r = self.emu.route
        base = "/crm/v3/properties/{object_type}"
        r("GET", base + "/groups", self.list_groups)  # before /{property_name}
        r("POST", base + "/groups", self.create_group)
        r("GET", base + "/groups/{group_name}", self.get_group)
        r("GET", base, self.list)
        r("POST", base, self.create)
        r("GET", base + "/{property_name}", self.get)
        r("PATCH", base + "/{property_name}", self.update)
        r("DELETE", base + "/{property_name}", self.archive)

    def _groups(self, req: EmuRequest) -> dict[str, dict[str, Any]]:
        return self.store.groups[resolve_type(req.path_params["object_type"]).name]

    def list_groups(self, req: EmuRequest) -> Response:
        rows = [g for g in self._groups(req).values() if not g["archived"]]
        return json_response({"results": rows})

    def get_group(self, req: EmuRequest) -> Response:
        name = req.path_params["group_name"]
        group = self._groups(req).get(name)
        if group is None or group["archived"]:
            raise HttpError(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find property group {name} for object type "
                f"{req.path_params['object_type']}",
                context={"groupName": [name]},
            )
        return json_response(group)

    def create_group(self, req: EmuRequest) -> Response:
        groups = self._groups(req)
        body = req.json() or {}
        name, label = str(body.get("name") or ""), str(body.get("label") or "")
        if not _NAME.match(name) or not label:
            raise bad_request(
                f"Property group name '{name}' is invalid or its label is missing: use "
                "lowercase letters, digits and underscores, and give a label"
            )
        existing = groups.get(name)
        if existing is not None and not existing["archived"]:
            raise HttpError(
                409,
                "OBJECT_ALREADY_EXISTS",
                f"Property group named '{name}' already exists.",
                context={"groupName": [name]},
            )
        group = {
            "name": name,
            "label": label,
            "displayOrder": int(body.get("displayOrder", -1)),
            "archived": False,
        }
        groups[name] = group
        return json_response(group, 201)

    def _check_group(self, req: EmuRequest, name: str) -> None:
        group = self._groups(req).get(name)
        if group is None or group["archived"]:
            raise bad_request(
                f"Property group {name} does not exist for object type "
                f"{req.path_params['object_type']}",
                context={"groupName": [name]},
            )

    def _defs(self, req: EmuRequest) -> dict[str, PropertyDef]:
        return self.store.properties[resolve_type(req.path_params["object_type"]).name]

    def _one(self, req: EmuRequest) -> PropertyDef:
        name = req.path_params["property_name"]
        defn = self._defs(req).get(name)
        archived = (req.q("archived") or "false").lower() == "true"
        if defn is None or defn.archived != archived:
            raise HttpError(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find property {name} for object type {req.path_params['object_type']}",
                context={"propertyName": [name]},
            )
        return defn

    def list(self, req: EmuRequest) -> Response:
        archived = (req.q("archived") or "false").lower() == "true"
        wanted = set(req.q_list("properties"))
        rows = [
            d.to_json()
            for d in self._defs(req).values()
            if d.archived == archived and (not wanted or d.name in wanted)
        ]
        return json_response({"results": rows})

    def get(self, req: EmuRequest) -> Response:
        return json_response(self._one(req).to_json())

    def create(self, req: EmuRequest) -> Response:
        defs = self._defs(req)
        body = req.json() or {}
        name = str(body.get("name") or "")
        if not _NAME.match(name):
            raise bad_request(
                f"Property name '{name}' is invalid: use lowercase letters, digits and underscores"
            )
        if name.startswith("hs_"):
            raise bad_request(f"Property name '{name}' uses the reserved 'hs_' prefix")
        missing = [k for k in ("label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            raise bad_request(f"Missing required fields: {missing}")
        if body["type"] not in TYPES or body["fieldType"] not in FIELD_TYPES:
            raise bad_request(f"Invalid type/fieldType: {body['type']}/{body['fieldType']}")
        self._check_group(req, str(body["groupName"]))
        options = _options(body.get("options"))
        if body["type"] == "enumeration" and not options and body["fieldType"] != "booleancheckbox":
            raise bad_request("Enumeration properties need at least one option")
        existing = defs.get(name)
        if existing is not None and not existing.archived:
            raise HttpError(
                409,
                "OBJECT_ALREADY_EXISTS",
                f"Property named '{name}' already exists.",
                context={"propertyName": [name]},
            )
        unique = bool(body.get("hasUniqueValue", False))
        if (
            unique
            and sum(d.has_unique_value and not d.archived for d in defs.values()) >= MAX_UNIQUE
        ):
            raise bad_request(
                f"At most {MAX_UNIQUE} unique value properties are allowed per object"
            )
        now = self.emu.clock()
        defn = PropertyDef(
            name=name,
            label=str(body["label"]),
            type=body["type"],
            field_type=body["fieldType"],
            group_name=str(body["groupName"]),
            options=options,
            has_unique_value=unique,
            hubspot_defined=False,
            description=str(body.get("description") or ""),
            display_order=int(body.get("displayOrder", -1)),
            hidden=bool(body.get("hidden", False)),
            form_field=bool(body.get("formField", False)),
            created=now,
            updated=now,
        )
        defs[name] = defn
        return json_response(defn.to_json(), 201)

    def update(self, req: EmuRequest) -> Response:
        defn = self._one(req)
        if defn.hubspot_defined:
            raise bad_request(f"{defn.name} is a HubSpot defined property and cannot be modified")
        body = req.json() or {}
        if "groupName" in body:
            self._check_group(req, str(body["groupName"]))
        for key, attr in (
            ("label", "label"),
            ("description", "description"),
            ("groupName", "group_name"),
            ("fieldType", "field_type"),
            ("hidden", "hidden"),
            ("formField", "form_field"),
            ("displayOrder", "display_order"),
        ):
            if key in body:
                setattr(defn, attr, body[key])
        if "options" in body:
            defn.options = _options(body["options"])
        defn.updated = self.emu.clock()
        return json_response(defn.to_json())

    def archive(self, req: EmuRequest) -> Response:
        defn = self._one(req)
        if defn.hubspot_defined:
            raise bad_request(f"{defn.name} is a HubSpot defined property and cannot be deleted")
        defn.archived = True
        defn.updated = self.emu.clock()
        return Response(status_code=204)
