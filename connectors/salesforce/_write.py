"""Upserts through sObject Collections: 200 records per call on an external id field.

``PATCH composite/sobjects/{S}/{ext}`` with ``allOrNone: false`` answers one result per
record, in order: ``{"id", "success", "created", "errors": [{"statusCode", "message",
"fields"}]}``. A whole-call 400 whose code is about records (say STRING_TOO_LONG for a
one-record call) fails every record of that call with the code, instead of stopping the
pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connectors.chunks import send_chunks
from connectors.errors import Retriable
from connectors.records import WriteItem, WriteResult
from connectors.salesforce._api import Api
from connectors.salesforce._errors import (
    RECORD_CODES,
    RETRIABLE_CODES,
    error_code,
    error_fields,
    error_message,
)
from connectors.salesforce._values import InvalidValue, payload_json
from connectors.salesforce.soql import soql_identifier

__all__ = ["COLLECTION_SIZE", "chunks", "result_from", "upsert_collections"]

log = structlog.get_logger(__name__)

COLLECTION_SIZE = 200
T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def result_from(key: str, raw: Mapping[str, Any]) -> WriteResult:
    """A WriteResult from one collection result entry."""
    if raw.get("success"):
        return WriteResult.success(key, raw.get("id"), created=bool(raw.get("created")))
    errors = raw.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], Mapping) else {}
    code = str(first.get("statusCode") or first.get("errorCode") or "UNKNOWN")
    fields = first.get("fields") or []
    return WriteResult.failure(
        key,
        code,
        str(first.get("message") or code),
        field=str(fields[0]) if fields else None,
        retriable=code in RETRIABLE_CODES,
    )


def record_body(sobject: str, id_field: str, item: WriteItem) -> dict[str, Any]:
    """The collection record for one item: ``attributes``, payload, external id = key."""
    payload = {k: v for k, v in item.payload.items() if k not in ("Id", "attributes")}
    body: dict[str, Any] = {"attributes": {"type": sobject}}
    body.update(payload_json(payload))
    body[id_field] = item.key
    return body


def _whole_call_failure(
    items: Sequence[WriteItem], exc: SalesforceMalformedRequest
) -> list[WriteResult]:
    code = error_code(exc)
    fields = error_fields(exc)
    return [
        WriteResult.failure(
            item.key,
            code,
            error_message(exc),
            field=fields[0] if fields else None,
            retriable=code in RETRIABLE_CODES,
        )
        for item in items
    ]


def _send(api: Api, path: str, records: list[dict[str, Any]]) -> Any:
    def run(sf: Salesforce) -> Any:
        try:
            return sf.restful(path, method="PATCH", json={"allOrNone": False, "records": records})
        except SalesforceMalformedRequest as exc:
            if error_code(exc) in RECORD_CODES:
                return exc
            raise

    return api.call(run)


def _upsert_chunk(
    api: Api, sobject: str, id_field: str, items: Sequence[WriteItem], *, by_id: bool = False
) -> list[WriteResult]:
    results: dict[int, WriteResult] = {}
    bodies: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(items):
        try:
            body = record_body(sobject, id_field, item)
        except InvalidValue as exc:
            results[index] = WriteResult.failure(item.key, "INVALID_VALUE", str(exc), exc.field)
            continue
        if by_id:
            body["id"] = item.crm_id
        bodies.append((index, body))
    if bodies:
        path = "composite/sobjects" if by_id else f"composite/sobjects/{sobject}/{id_field}"
        answer = _send(api, path, [body for _, body in bodies])
        sent = [items[i] for i, _ in bodies]
        if isinstance(answer, SalesforceMalformedRequest):
            outcomes = _whole_call_failure(sent, answer)
        elif isinstance(answer, list) and len(answer) == len(bodies):
            outcomes = [result_from(item.key, raw) for item, raw in zip(sent, answer, strict=True)]
        else:
            raise Retriable("Salesforce answered an upsert with an unexpected body", code="BODY")
        for (index, _), outcome in zip(bodies, outcomes, strict=True):
            results[index] = outcome
    return [results[i] for i in range(len(items))]


def upsert_collections(
    api: Api, sobject: str, id_field: str, batch: Sequence[WriteItem]
) -> list[WriteResult]:
    """Upsert ``batch`` 200 at a time; one result per item, in order."""
    soql_identifier(sobject)
    soql_identifier(id_field)
    out = send_chunks(
        list(chunks(batch, COLLECTION_SIZE)),
        lambda chunk: _upsert_chunk(api, sobject, id_field, chunk),
        lambda item: item.key,
    )
    failed = sum(1 for r in out if not r.ok)
    log.info("salesforce.upserted", sobject=sobject, records=len(out), failed=failed)
    return out


def update_matched(
    api: Api, sobject: str, id_field: str, batch: Sequence[WriteItem]
) -> list[WriteResult]:
    """Update records matched by identity resolution by their Salesforce Id (PATCH
    ``composite/sobjects``), stamping the external id on them; 200 per call, in order."""
    soql_identifier(sobject)
    soql_identifier(id_field)
    out = send_chunks(
        list(chunks(batch, COLLECTION_SIZE)),
        lambda chunk: _upsert_chunk(api, sobject, id_field, chunk, by_id=True),
        lambda item: item.key,
    )
    failed = sum(1 for r in out if not r.ok)
    log.info("salesforce.upserted", sobject=sobject, records=len(out), failed=failed)
    return out
