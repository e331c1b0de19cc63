"""Identity lookups, deletes (archive), associations (v4 batch) and GDPR erasure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from hubspot.crm.contacts.models import PublicGdprDeleteInput
from hubspot.crm.objects.models import (
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
)

from connectors.chunks import send_chunks
from connectors.errors import Fatal
from connectors.records import ErasureResult, Subject, WriteResult

from ._api import HubSpotApi
from ._errors import HubSpotApiError, parse_body
from ._read import SEARCH, next_after, search_fail
from ._types import BATCH_LIMIT, SEARCH_IN_LIMIT, SEARCH_PAGE_LIMIT
from ._values import norm
from ._write import failure_from, isolate

__all__ = ["Operations"]

log = structlog.get_logger(__name__)

BATCH_READ = "POST /crm/v3/objects/{object_type}/batch/read"
BATCH_ARCHIVE = "POST /crm/v3/objects/{object_type}/batch/archive"
ASSOC_CREATE = "POST /crm/v4/associations/{from_type}/{to_type}/batch/create"
GDPR_DELETE = "POST /crm/v3/objects/contacts/gdpr-delete"
#: inputs per batch read that asks for property history (HubSpot allows 50, not 100)
HISTORY_BATCH_LIMIT = 50

Pair = tuple[str, str]


def _chunks(values: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


class Operations:
    """The connector's calls besides upsert and change reads."""

    def __init__(self, api: HubSpotApi) -> None:
        self.api = api

    # ---- lookup

    def lookup(self, stream: str, field: str, values: Sequence[str]) -> dict[str, list[str]]:
        """``{value lower-cased: [ids]}`` for every value given (empty list when none match)."""
        wanted = list(dict.fromkeys(norm(v) for v in values if str(v).strip()))
        found: dict[str, list[str]] = {v: [] for v in wanted}
        if stream == "contacts" and field == "email":
            for chunk in _chunks(wanted, BATCH_LIMIT):
                for value, rid in self.read_by(stream, field, chunk):
                    found.setdefault(norm(value), []).append(rid)
        else:
            for chunk in _chunks(wanted, SEARCH_IN_LIMIT):
                for value, rid in self._search_in(stream, field, chunk):
                    found.setdefault(norm(value), []).append(rid)
        return {k: sorted(set(v), key=_id_order) for k, v in found.items()}

    def read_by(
        self, stream: str, id_property: str, values: list[str], *, archived: bool = False
    ) -> list[Pair]:
        """(id property value, HubSpot id) for the values that exist (batch read, <= 100)."""
        body = {
            "idProperty": id_property,
            "inputs": [{"id": v} for v in values],
            "properties": [id_property],
            "propertiesWithHistory": [],
        }
        try:
            data, _ = self.api.call_json(
                BATCH_READ, self.api.batch.read_with_http_info, stream, body, archived=archived
            )
        except HubSpotApiError as err:
            raise Fatal(
                f"HubSpot refused to read {stream} by '{id_property}' ({err.status}: "
                f"{err.body.message}); it must be a unique property",
                code=err.body.category or str(err.status),
            ) from err
        out = []
        for row in data.get("results") or []:
            value = (row.get("properties") or {}).get(id_property)
            if value:
                out.append((str(value), str(row["id"])))
        return out

    def change_sources(
        self, stream: str, ids: Sequence[str], properties: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Who set the newest value of ``properties`` on each record: one batch read with
        ``propertiesWithHistory`` per 50 ids (HubSpot's limit for history reads). The newest
        entry across the properties wins; a record HubSpot does not return is left out."""
        names = sorted(set(properties))
        out: dict[str, dict[str, Any]] = {}
        if not names:
            return out
        for chunk in _chunks(list(dict.fromkeys(ids)), HISTORY_BATCH_LIMIT):
            body = {"inputs": [{"id": i} for i in chunk], "properties": [],
                    "propertiesWithHistory": names}  # fmt: skip
            try:
                data, _ = self.api.call(
                    BATCH_READ, self.api.batch.read_with_http_info, stream, body, archived=False
                )
            except HubSpotApiError as err:
                log.warning("hubspot.history_unreadable", status=err.status, object=stream)
                continue
            for row in getattr(data, "results", None) or []:
                source = _newest_source(getattr(row, "properties_with_history", None) or {})
                if source:
                    out[str(row.id)] = source
        return out

    def _search_in(self, stream: str, field: str, values: list[str]) -> list[Pair]:
        after: str | None = None
        out: list[Pair] = []
        while True:
            request = PublicObjectSearchRequest(
                filter_groups=[
                    FilterGroup(filters=[Filter(property_name=field, operator="IN", values=values)])
                ],
                sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                properties=[field],
                limit=SEARCH_PAGE_LIMIT,
                after=after,
            )
            try:
                data, _ = self.api.call_json(
                    SEARCH, self.api.search.do_search_with_http_info, stream, request, search=True
                )
            except HubSpotApiError as err:
                raise search_fail(stream, err) from err
            for row in data.get("results") or []:
                value = (row.get("properties") or {}).get(field)
                if value is not None:
                    out.append((str(value), str(row["id"])))
            after = next_after(data)
            if after is None:
                return out

    # ---- delete

    def delete(self, stream: str, keys: Sequence[str], id_property: str) -> list[WriteResult]:
        """Archive the records whose id property holds ``keys``; absent ones count as done."""
        canon = norm if id_property == "email" else str
        ids: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        for chunk in _chunks(unique, BATCH_LIMIT):
            for value, rid in self.read_by(stream, id_property, chunk):
                ids[canon(value)] = rid
        targets = sorted(set(ids.values()), key=_id_order)
        for chunk in _chunks(targets, BATCH_LIMIT):
            body = {"inputs": [{"id": i} for i in chunk]}
            try:
                self.api.call(BATCH_ARCHIVE, self.api.batch.archive_with_http_info, stream, body)
            except HubSpotApiError as err:
                raise Fatal(
                    f"HubSpot refused to archive {stream} ({err.status}: {err.body.message})",
                    code=err.body.category or str(err.status),
                ) from err
        log.info("hubspot.archived", object=stream, requested=len(keys), archived=len(targets))
        return [WriteResult.success(k, ids.get(canon(k))) for k in keys]

    # ---- associations

    def associate(
        self, from_object: str, to_object: str, pairs: Sequence[Pair], type_id: int
    ) -> list[WriteResult]:
        """HUBSPOT_DEFINED associations of ``type_id``; one result (key = from id) per pair.

        A transient failure (5xx, 429, timeout, reset) of one chunk does not undo the chunks
        already created: that chunk and the later ones come back as retriable failures, so
        the caller retries only them (the first chunk's error is raised: nothing was sent).
        """
        results = send_chunks(
            _chunks(list(pairs), BATCH_LIMIT),
            lambda chunk: isolate(
                list(chunk),
                lambda part: self._associate(from_object, to_object, part, type_id),
                lambda pair, err: failure_from(pair[0], err.status, err.body),
            ),
            lambda pair: pair[0],
        )
        failed = sum(1 for r in results if not r.ok)
        log.info("hubspot.associated", pairs=len(pairs), failed=failed, type_id=type_id)
        return results

    def _associate(
        self, from_object: str, to_object: str, part: list[Pair], type_id: int
    ) -> list[WriteResult]:
        # plain JSON, not generated models: each model instance deep-copies the client's
        # default Configuration, which dominated the cost of large association batches
        spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
        body = {"inputs": [{"from": {"id": f}, "to": {"id": t}, "types": [spec]} for f, t in part]}
        data, _ = self.api.call_json(
            ASSOC_CREATE, self.api.associations.create_with_http_info, from_object, to_object, body
        )
        done: set[Pair] = set()
        for row in data.get("results") or []:
            done.add((str(row.get("fromObjectId")), str(row.get("toObjectId"))))
        failures: dict[Pair, WriteResult] = {}
        for error in data.get("errors") or []:
            body_err = parse_body(error)
            ids = body_err.ids()
            for pair in part:
                if pair not in done and pair not in failures and pair[0] in ids:
                    partner_named = any("to" in k.lower() for k in body_err.context)
                    if not partner_named or pair[1] in ids:
                        failures[pair] = failure_from(pair[0], 400, body_err)
        out = []
        for pair in part:
            if pair in failures:
                out.append(failures[pair])
            elif pair in done:
                out.append(WriteResult.success(pair[0], pair[1]))
            else:
                out.append(
                    WriteResult.failure(
                        pair[0], "NO_RESULT", "HubSpot returned no outcome", retriable=True
                    )
                )
        return out

    # ---- erasure

    def erase(self, subject: Subject) -> ErasureResult:
        """GDPR-delete the contact by email (or HubSpot id); HubSpot also blocklists the email.

        HubSpot answers 204 for an email no contact has (it only blocklists it), so the
        contact is looked up first (live, then archived) to report what was really there.
        """
        found: bool | None = None
        if subject.email:
            email = subject.email.strip()
            found = any(
                self.read_by("contacts", "email", [email], archived=archived)
                for archived in (False, True)
            )
            body = PublicGdprDeleteInput(object_id=email, id_property="email")
        elif subject.crm_ids.get("hubspot"):
            body = PublicGdprDeleteInput(object_id=subject.crm_ids["hubspot"])
        else:
            return ErasureResult(
                "hubspot", False, "no email or HubSpot contact id to erase by; erase by hand"
            )
        try:
            _, status = self.api.call(GDPR_DELETE, self.api.contacts.purge_with_http_info, body)
        except HubSpotApiError as err:
            if err.status == 404:
                return ErasureResult("hubspot", True, "not found: no such contact", found=False)
            raise Fatal(
                f"HubSpot refused the GDPR delete ({err.status}: {err.body.message})",
                code=err.body.category or str(err.status),
            ) from err
        log.info("hubspot.gdpr_deleted", request=subject.request_id, status=status, found=found)
        if found is False:
            detail = "not found: no contact with this email; HubSpot blocklisted the address"
            return ErasureResult("hubspot", True, detail, found=False)
        return ErasureResult(
            "hubspot", True, "contact permanently deleted (GDPR)", removed=1, found=True
        )


def _newest_source(history: dict[str, Any]) -> dict[str, Any]:
    """The source of the newest history entry over all properties (HubSpot lists each
    property's values newest first)."""
    newest: Any = None
    for entries in history.values():
        for entry in (entries or [])[:1]:
            if newest is None or str(entry.timestamp) > str(newest.timestamp):
                newest = entry
    if newest is None:
        return {}
    source = {
        "user_id": None if newest.updated_by_user_id is None else str(newest.updated_by_user_id),
        "source_type": newest.source_type,
        "source_id": newest.source_id,
    }
    return {k: v for k, v in source.items() if v not in (None, "")}


def _id_order(rid: str) -> tuple[int, str]:
    return (int(rid), rid) if rid.isdigit() else (0, rid)
