"""Workflow-rule actions on Salesforce: CampaignMember and Task.

- Campaign membership: ``POST composite/sobjects`` (``allOrNone: false``) creating one
  ``CampaignMember`` {CampaignId, ContactId} per contact, 200 per call; a contact already in
  the campaign (``DUPLICATE_VALUE``) counts as done.
- Task: the contact's ``OwnerId`` by SOQL, then ``POST sobjects/Task`` with ``WhoId`` = the
  contact, ``OwnerId`` = its owner, ``Subject``, ``Description``, ``Priority``,
  ``ActivityDate`` (due date) and ``Status`` "Not Started".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from simple_salesforce.api import Salesforce

from connectors.base import TaskSpec
from connectors.records import WriteResult
from connectors.salesforce._api import Api, sobject
from connectors.salesforce._write import COLLECTION_SIZE, chunks, result_from
from connectors.salesforce.soql import soql_quote

__all__ = ["SalesforceActions"]

_PRIORITY = {"low": "Low", "medium": "Normal", "high": "High"}
_ALREADY = frozenset({"DUPLICATE_VALUE"})
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def _record_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"{value!r} is not a Salesforce record id")
    return value


class SalesforceActions:
    """Mixed into :class:`SalesforceConnector` (needs its ``api``)."""

    api: Api

    def resolve_list(self, ref: str) -> str | None:
        """A Campaign id as given, or the id of the Campaign named ``ref``."""
        if _ID.match(ref) and ref.startswith("701"):
            return ref
        cache: dict[str, str | None] = self.__dict__.setdefault("_campaign_ids", {})
        if ref not in cache:
            soql = "SELECT Id FROM Campaign WHERE Name = " + soql_quote(ref) + " LIMIT 2"  # noqa: S608 (quoted)
            found = self.api.call(lambda sf: sf.query(soql))
            rows = found.get("records") or [] if isinstance(found, dict) else []
            cache[ref] = str(rows[0]["Id"]) if len(rows) == 1 else None
        return cache[ref]

    def add_to_list(self, list_id: str, crm_ids: Sequence[str]) -> list[WriteResult]:
        """Make each contact a member of Campaign ``list_id``; one result per contact."""
        campaign = _record_id(list_id)
        out: list[WriteResult] = []
        for chunk in chunks(list(crm_ids), COLLECTION_SIZE):
            records = [
                {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign, "ContactId": c}
                for c in chunk
            ]

            def run(sf: Salesforce, body: list[dict[str, Any]] = records) -> Any:
                payload = {"allOrNone": False, "records": body}
                return sf.restful("composite/sobjects", method="POST", json=payload)

            answer = self.api.call(run) or []
            for contact, raw in zip(chunk, answer, strict=False):
                result = result_from(contact, raw)
                if not result.ok and result.error and result.error.code in _ALREADY:
                    result = WriteResult.success(contact, contact)
                out.append(result)
        return out

    def create_task(self, crm_id: str, task: TaskSpec) -> WriteResult:
        """A not-started Task on the contact, owned by the contact's owner."""
        contact = _record_id(crm_id)
        soql = "SELECT OwnerId FROM Contact WHERE Id = " + soql_quote(contact)  # noqa: S608 (quoted)
        found = self.api.call(lambda sf: sf.query(soql))
        rows = found.get("records") or [] if isinstance(found, dict) else []
        if not rows:
            return WriteResult.failure(crm_id, "NOT_FOUND", "contact does not exist in Salesforce")
        body: dict[str, Any] = {
            "WhoId": contact,
            "OwnerId": rows[0].get("OwnerId"),
            "Subject": task.subject,
            "Status": "Not Started",
            "Priority": _PRIORITY.get(task.priority, "Normal"),
        }
        if task.body:
            body["Description"] = task.body
        if task.due:
            body["ActivityDate"] = task.due.isoformat()
        answer = self.api.call(lambda sf: sobject(sf, "Task").create(body))
        if isinstance(answer, dict) and answer.get("success"):
            return WriteResult.success(crm_id, str(answer.get("id")), created=True)
        return result_from(crm_id, answer if isinstance(answer, dict) else {})
