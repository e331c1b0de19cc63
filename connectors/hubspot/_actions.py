"""Workflow-rule actions on HubSpot: static list membership and tasks on a contact.

- ``PUT /crm/v3/lists/{listId}/memberships/add`` with a JSON array of record ids; the answer
  names the ids added and those missing (``recordIdsMissing``); ids already in the list are
  neither. Works on MANUAL/SNAPSHOT lists only.
- ``POST /crm/v3/objects/tasks`` for the contact's owner (``hubspot_owner_id``, read from the
  contact first) with ``hs_timestamp`` (due), ``hs_task_subject``,
  ``hs_task_body``, ``hs_task_status`` and ``hs_task_priority``, associated to the contact
  with the HUBSPOT_DEFINED type 204 (task → contact).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time

from hubspot.crm.objects.tasks import (
    AssociationSpec,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectInputForCreate,
)

from connectors.base import TaskSpec
from connectors.records import WriteResult

from ._api import HubSpotApi
from ._errors import HubSpotApiError

__all__ = ["ADD_TO_LIST", "CREATE_TASK", "TASK_TO_CONTACT", "HubSpotActions"]

ADD_TO_LIST = "PUT /crm/v3/lists/{listId}/memberships/add"
LIST_BY_NAME = "GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}"
CONTACTS_TYPE_ID = "0-1"
CREATE_TASK = "POST /crm/v3/objects/tasks"
GET_CONTACT = "GET /crm/v3/objects/{object_type}/{object_id}"
#: HUBSPOT_DEFINED association type task → contact
TASK_TO_CONTACT = 204
_PRIORITY = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH"}


class HubSpotActions:
    """Mixed into :class:`HubSpotConnector` (needs its ``api``)."""

    api: HubSpotApi

    def resolve_list(self, ref: str) -> str | None:
        """A list id as given (digits), or the id of the contact list named ``ref``."""
        if ref.isdigit():
            return ref
        cache: dict[str, str | None] = self.__dict__.setdefault("_list_ids", {})
        if ref not in cache:
            try:
                data, _ = self.api.call(
                    LIST_BY_NAME,
                    self.api.lists_by_name.get_by_name_with_http_info,
                    ref,
                    CONTACTS_TYPE_ID,
                )
            except HubSpotApiError as err:
                if err.status != 404:
                    raise
                cache[ref] = None
            else:
                cache[ref] = str(data.list.list_id)
        return cache[ref]

    def add_to_list(self, list_id: str, crm_ids: Sequence[str]) -> list[WriteResult]:
        """Add contacts to a static list; ids HubSpot reports missing fail individually."""
        if not crm_ids:
            return []
        try:
            data, _ = self.api.call(
                ADD_TO_LIST, self.api.lists.add_with_http_info, list_id, list(crm_ids)
            )
        except HubSpotApiError as err:
            if err.status != 404:
                raise
            return [
                WriteResult.failure(i, "LIST_NOT_FOUND", f"HubSpot list {list_id} does not exist")
                for i in crm_ids
            ]
        missing = set(getattr(data, "record_ids_missing", None) or [])
        return [
            WriteResult.failure(i, "RECORD_NOT_FOUND", "contact does not exist in HubSpot")
            if i in missing
            else WriteResult.success(i, i)
            for i in crm_ids
        ]

    def _owner_of(self, crm_id: str) -> str | None:
        """The contact's owner (``hubspot_owner_id``), who gets the task; None if unowned."""
        try:
            data, _ = self.api.call(
                GET_CONTACT,
                self.api.basic.get_by_id_with_http_info,
                "contacts",
                crm_id,
                properties=["hubspot_owner_id"],
            )
        except HubSpotApiError as err:
            if err.status != 404:
                raise
            return None
        owner = (data.properties or {}).get("hubspot_owner_id")
        return str(owner) if owner else None

    def create_task(self, crm_id: str, task: TaskSpec) -> WriteResult:
        """Create a not-started task for the contact's owner, associated with the contact."""
        due = datetime.combine(task.due, time(9), tzinfo=UTC) if task.due else datetime.now(UTC)
        props = {
            "hs_timestamp": due.isoformat().replace("+00:00", "Z"),
            "hs_task_subject": task.subject,
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": _PRIORITY.get(task.priority, "MEDIUM"),
            "hs_task_type": "TODO",
        }
        if task.body:
            props["hs_task_body"] = task.body
        owner = self._owner_of(crm_id)
        if owner:
            props["hubspot_owner_id"] = owner
        body = SimplePublicObjectInputForCreate(
            properties=props,
            associations=[
                PublicAssociationsForObject(
                    to=PublicObjectId(id=crm_id),
                    types=[
                        AssociationSpec(
                            association_category="HUBSPOT_DEFINED",
                            association_type_id=TASK_TO_CONTACT,
                        )
                    ],
                )
            ],
        )
        try:
            data, _ = self.api.call(CREATE_TASK, self.api.tasks.create_with_http_info, body)
        except HubSpotApiError as err:
            if err.status not in (400, 404):
                raise
            return WriteResult.failure(
                crm_id, err.body.category or str(err.status), err.body.message
            )
        return WriteResult.success(crm_id, str(data.id), created=True)
