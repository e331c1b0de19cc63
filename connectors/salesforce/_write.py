"""Upserts through sObject Collections: 200 records per call on an external id field.

``PATCH composite/sobjects/{S}/{ext}`` with ``allOrNone: false`` answers one result per
record, in order: ``{"id", "success", "created", "errors": [{"statusCode", "message",
"fields"}]}``.

A request that is not well formed is refused as a whole with one 400 (REST API Developer
Guide, "Create Records Using sObject Collections": "If the request isn't well formed, the API
returns a 400 Bad Request HTTP Status"): a value Salesforce's JSON reader cannot bind to the
field's type (``JSON_PARSER_ERROR``) or an unknown column (``INVALID_FIELD`` "No such column
...") in any one record fails all 200. Such a call, and any whole-call 400 whose code is about
records (say STRING_TOO_LONG), is split in halves (:func:`connectors.chunks.split_until_alone`,
as the HubSpot writer does) until the bad record stands alone; only that record fails, with the
vendor's code and message, and becomes a dead letter; the pipeline goes on. Records carrying
an unknown column fail at once (it fails whatever the value), without splitting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connectors.chunks import send_chunks, split_until_alone
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


#: Whole-call 400 codes Salesforce gives when one record of a collection is malformed.
_MALFORMED_CODES = frozenset({"JSON_PARSER_ERROR"})
#: The INVALID_FIELD message about a record's column (not about the call's external id field).
_NO_SUCH_COLUMN = "No such column"
_COLUMN_RE = re.compile(r"No such column '([^']+)'")


class _WholeCallRefused(Exception):
    """A collection call refused as a whole because of what some record carries."""

    def __init__(self, exc: SalesforceMalformedRequest) -> None:
        super().__init__(error_code(exc))
        self.exc = exc


def _malformed(exc: SalesforceMalformedRequest) -> bool:
    """A whole-call 400 caused by one record's unknown column or unreadable value (not the
    INVALID_FIELD about the call's external id field, which is a configuration error)."""
    code = error_code(exc)
    if code == "INVALID_FIELD":
        return error_message(exc).startswith(_NO_SUCH_COLUMN)
    return code in _MALFORMED_CODES


def _refused_record(item: WriteItem, refused: _WholeCallRefused) -> WriteResult:
    code = error_code(refused.exc)
    fields = error_fields(refused.exc)
    return WriteResult.failure(
        item.key,
        code,
        error_message(refused.exc),
        field=fields[0] if fields else None,
        retriable=code in RETRIABLE_CODES,
    )


def _send(api: Api, path: str, records: list[dict[str, Any]], *, isolating: bool = False) -> Any:
    """PATCH a collection; a whole-call 400 with a record code (and, when ``isolating``, a
    malformed-record 400 the caller splits) is returned, not raised."""

    def run(sf: Salesforce) -> Any:
        try:
            return sf.restful(path, method="PATCH", json={"allOrNone": False, "records": records})
        except SalesforceMalformedRequest as exc:
            if error_code(exc) in RECORD_CODES or (isolating and _malformed(exc)):
                return exc
            raise

    return api.call(run)


def _send_bodies(
    api: Api, path: str, items: Sequence[WriteItem], bodies: list[tuple[int, dict[str, Any]]]
) -> list[WriteResult]:
    """One call for ``bodies``; raises :class:`_WholeCallRefused` on a record-caused 400."""
    answer = _send(api, path, [body for _, body in bodies], isolating=True)
    if isinstance(answer, SalesforceMalformedRequest):
        raise _WholeCallRefused(answer)
    if isinstance(answer, list) and len(answer) == len(bodies):
        sent = [items[i] for i, _ in bodies]
        return [result_from(item.key, raw) for item, raw in zip(sent, answer, strict=True)]
    raise Retriable("Salesforce answered an upsert with an unexpected body", code="BODY")


def _unknown_column(exc: SalesforceMalformedRequest) -> str | None:
    """The column an INVALID_FIELD "No such column 'X' ..." names (``fields`` or message)."""
    if error_code(exc) != "INVALID_FIELD":
        return None
    fields = error_fields(exc)
    found = _COLUMN_RE.match(error_message(exc))
    return fields[0] if fields else (found.group(1) if found else None)


def _send_isolating(
    api: Api, path: str, items: Sequence[WriteItem], bodies: list[tuple[int, dict[str, Any]]]
) -> list[WriteResult]:
    """:func:`_send_bodies`, failing at once every record that carries an unknown column
    (it fails whatever its value: no need to split for it) and re-sending the others."""
    try:
        return _send_bodies(api, path, items, bodies)
    except _WholeCallRefused as refused:
        column = (_unknown_column(refused.exc) or "").lower()
        carrying = {i for i, body in bodies if column and column in {k.lower() for k in body}}
        if not carrying:
            raise
        out = {i: _refused_record(items[i], refused) for i in carrying}
        rest = [pair for pair in bodies if pair[0] not in carrying]
        if rest:
            sent = _split(api, path, items, rest)
            out.update((i, result) for (i, _), result in zip(rest, sent, strict=True))
        return [out[i] for i, _ in bodies]


def _split(
    api: Api, path: str, items: Sequence[WriteItem], bodies: list[tuple[int, dict[str, Any]]]
) -> list[WriteResult]:
    return split_until_alone(
        bodies,
        lambda part: _send_isolating(api, path, items, part),
        lambda pair, refused: _refused_record(items[pair[0]], refused),
        catch=_WholeCallRefused,
        splittable=lambda _refused: True,
    )


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
        outcomes = _split(api, path, items, bodies)
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
