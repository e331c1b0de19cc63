"""Lists API v3 (static lists): create, read, add members, read members.

``PUT /crm/v3/lists/{listId}/memberships/add`` takes a JSON array of record ids and answers
``{"recordIdsMissing", "recordsIdsAdded", "recordIdsRemoved"}`` (HubSpot's own spelling of
``recordsIdsAdded``); ids already in the list are in neither list. Only MANUAL and SNAPSHOT
lists accept manual membership changes (DYNAMIC ones answer 400).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, HttpError, json_response

from ._host import HubSpotHost
from ._schema import resolve_type
from ._util import bad_request, iso_ms

__all__ = ["ListRoutes", "StaticList"]

PROCESSING = {"MANUAL", "SNAPSHOT", "DYNAMIC"}
#: static contact lists a portal set up for b2sync's workflow rules (config.yaml names them)
SEEDED = ("B2C Onboarding", "B2C VIP", "B2C Win-back", "B2C Churned")


@dataclass
class StaticList:
    """One list and its members (record ids in insertion order)."""

    list_id: str
    name: str
    object_type_id: str
    processing_type: str
    created: float
    members: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "listId": self.list_id,
            "name": self.name,
            "objectTypeId": self.object_type_id,
            "processingType": self.processing_type,
            "size": len(self.members),
            "createdAt": iso_ms(self.created),
            "updatedAt": iso_ms(self.created),
        }


class ListRoutes:
    """``/crm/v3/lists``."""

    def __init__(self, emu: HubSpotHost) -> None:
        self.emu = emu
        self.lists: dict[str, StaticList] = {}
        self.reset()

    def reset(self) -> None:
        """Forget every list, then create the seeded ones (ids 1..4)."""
        self.lists.clear()
        for name in SEEDED:
            self.create_list(name)

    def register(self) -> None:
        r = self.emu.route
        r("POST", "/crm/v3/lists", self.create)
        r("POST", "/crm/v3/lists/", self.create)
        r("GET", "/crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}", self.by_name)
        r("GET", "/crm/v3/lists/{listId}", self.get)
        r("PUT", "/crm/v3/lists/{listId}/memberships/add", self.add)
        r("GET", "/crm/v3/lists/{listId}/memberships", self.members)

    def create_list(
        self, name: str, object_type_id: str = "0-1", processing: str = "MANUAL"
    ) -> StaticList:
        """Create a list (also used by the admin API and tests)."""
        if processing not in PROCESSING:
            raise bad_request(f"processingType must be one of {sorted(PROCESSING)}")
        if any(existing.name == name for existing in self.lists.values()):
            raise HttpError(409, "CONFLICT", f"A list named '{name}' already exists")
        ot = resolve_type(object_type_id)
        list_id = str(len(self.lists) + 1)
        made = StaticList(list_id, name, ot.type_id, processing, self.emu.clock())
        self.lists[list_id] = made
        return made

    def _find(self, req: EmuRequest) -> StaticList:
        found = self.lists.get(req.path_params["listId"])
        if found is None:
            raise HttpError(404, "OBJECT_NOT_FOUND", "List does not exist")
        return found

    def create(self, req: EmuRequest) -> Response:
        body = req.json()
        if not isinstance(body, dict) or not body.get("name") or not body.get("objectTypeId"):
            raise bad_request("name and objectTypeId are required")
        made = self.create_list(
            str(body["name"]), str(body["objectTypeId"]), str(body.get("processingType", "MANUAL"))
        )
        return json_response({"list": made.to_json()})

    def by_name(self, req: EmuRequest) -> Response:
        ot = resolve_type(req.path_params["objectTypeId"])
        name = req.path_params["listName"]
        for found in self.lists.values():
            if found.name == name and found.object_type_id == ot.type_id:
                return json_response({"list": found.to_json()})
        raise HttpError(404, "OBJECT_NOT_FOUND", "List does not exist")

    def get(self, req: EmuRequest) -> Response:
        return json_response({"list": self._find(req).to_json()})

    def add(self, req: EmuRequest) -> Response:
        found = self._find(req)
        if found.processing_type == "DYNAMIC":
            raise bad_request("Memberships of DYNAMIC lists cannot be changed by hand")
        body = req.json()
        if not isinstance(body, list) or not all(isinstance(i, str | int) for i in body):
            raise bad_request("The body must be a JSON array of record ids")
        ot = resolve_type(found.object_type_id)
        added: list[str] = []
        missing: list[str] = []
        for raw in body:
            rid = str(raw)
            if self.emu.record(ot.name, rid) is None:
                missing.append(rid)
            elif rid not in found.members:
                found.members[rid] = self.emu.clock()
                added.append(rid)
        return json_response(
            {"recordIdsMissing": missing, "recordsIdsAdded": added, "recordIdsRemoved": []}
        )

    def members(self, req: EmuRequest) -> Response:
        found = self._find(req)
        results = [
            {"recordId": rid, "membershipTimestamp": iso_ms(at)}
            for rid, at in found.members.items()
        ]
        return json_response({"results": results, "total": len(results)})
