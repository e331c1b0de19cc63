"""Batch upsert on the unique id property, 100 per call, with per-record outcomes.

A 207 is mapped back record by record (trace ids and id values in each error's context). A
whole-batch 400/409 is split in halves until the offending inputs stand alone, so k bad
records among n cost O(k log n) calls and every other record still gets written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from connectors.chunks import split_until_alone, unsent
from connectors.errors import BudgetExhausted, Fatal, Retriable
from connectors.records import WriteItem, WriteResult

from ._api import HubSpotApi
from ._errors import ErrorBody, HubSpotApiError, parse_body
from ._properties import PropertyKeeper
from ._types import BATCH_LIMIT
from ._values import norm, to_text

__all__ = ["UPSERT", "Upserter", "isolate"]

log = structlog.get_logger(__name__)

UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"
UPDATE = "POST /crm/v3/objects/{object_type}/batch/update"
_SPLITTABLE = frozenset({400, 409, 422})
_RETRIABLE_CATEGORIES = frozenset(
    {"RATE_LIMITS", "RATE_LIMIT", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE", "LOCKED", "TIMEOUT"}
)

T = TypeVar("T")


def isolate(
    chunk: list[T],
    send: Callable[[list[T]], list[WriteResult]],
    fail: Callable[[T, HubSpotApiError], WriteResult],
) -> list[WriteResult]:
    """``send(chunk)``; on a whole-batch 400/409 split in halves until the bad inputs are alone."""
    return split_until_alone(
        chunk, send, fail, catch=HubSpotApiError, splittable=lambda err: err.status in _SPLITTABLE
    )


def failure_from(key: str, status: int, body: ErrorBody) -> WriteResult:
    """A per-record failure from an error body (a 207 ``StandardError`` or a 4xx body)."""
    code = body.category or body.code or str(status)
    retriable = status >= 500 or status in (423, 429) or body.category in _RETRIABLE_CATEGORIES
    message = body.message or f"HubSpot rejected the record ({status})"
    return WriteResult.failure(key, code, message, body.field, retriable=retriable)


@dataclass(frozen=True)
class _Input:
    index: int
    item: WriteItem
    id_value: str

    @property
    def key(self) -> str:
        return self.item.key


class Upserter:
    """Upserts one object type's batches keyed on ``id_property``."""

    def __init__(self, api: HubSpotApi, keeper: PropertyKeeper) -> None:
        self.api = api
        self.keeper = keeper

    def write(self, stream: str, batch: Sequence[WriteItem], id_property: str) -> list[WriteResult]:
        """One result per item, in input order.

        Items carrying a ``crm_id`` were matched to an existing record (identity resolution):
        they are updated by HubSpot id, which also stamps the id property on them; all others
        are upserted on the id property.
        """
        if not batch:
            return []
        if any(item.crm_id for item in batch):
            return self._write_mixed(stream, batch, id_property)
        self.keeper.ensure(stream, id_property)
        results: dict[int, WriteResult] = {}
        pending: list[_Input] = []
        for index, item in enumerate(batch):
            id_value = _id_value(item, id_property)
            if not id_value:
                results[index] = WriteResult.failure(
                    item.key,
                    "MISSING_ID",
                    f"no value for the id property '{id_property}'",
                    id_property,
                )
                continue
            pending.append(_Input(index, item, id_value))
        chunks = list(_chunks(pending, id_property))
        for number, chunk in enumerate(chunks):
            try:
                outcome = isolate(
                    chunk,
                    lambda part: self._send(stream, part, id_property, retried=False),
                    lambda one, err: failure_from(one.key, err.status, err.body),
                )
            except Retriable as exc:
                if number == 0 or isinstance(exc, BudgetExhausted):
                    raise  # nothing written yet, or the pipeline must pause: the engine decides
                unsent_inputs = [one for later in chunks[number:] for one in later]
                results.update({one.index: unsent(one.key, exc) for one in unsent_inputs})
                break
            for one, result in zip(chunk, outcome, strict=True):
                results[one.index] = result
        created = sum(1 for r in results.values() if r.ok and r.created)
        failed = sum(1 for r in results.values() if not r.ok)
        log.info(
            "hubspot.upserted", object=stream, records=len(batch), created=created, failed=failed
        )
        return [results[i] for i in range(len(batch))]

    def _write_mixed(
        self, stream: str, batch: Sequence[WriteItem], id_property: str
    ) -> list[WriteResult]:
        matched = [(i, item) for i, item in enumerate(batch) if item.crm_id]
        others = [(i, item) for i, item in enumerate(batch) if not item.crm_id]
        results: dict[int, WriteResult] = {}
        if others:
            written = self.write(stream, [item for _, item in others], id_property)
            results.update(zip((i for i, _ in others), written, strict=True))
        self.keeper.ensure(stream, id_property)
        inputs = [_Input(i, item, str(item.crm_id)) for i, item in matched]
        for start in range(0, len(inputs), BATCH_LIMIT):
            chunk = inputs[start : start + BATCH_LIMIT]
            outcome = isolate(
                chunk,
                lambda part: self._update(stream, part, id_property),
                lambda one, err: failure_from(one.key, err.status, err.body),
            )
            results.update({one.index: r for one, r in zip(chunk, outcome, strict=True)})
        return [results[i] for i in range(len(batch))]

    def _update(self, stream: str, part: list[_Input], id_property: str) -> list[WriteResult]:
        inputs = []
        for one in part:
            properties = {name: to_text(value) for name, value in one.item.payload.items()}
            properties[id_property] = one.key
            inputs.append({"id": one.id_value, "properties": properties})
        body = {"inputs": inputs}
        data, _ = self.api.call_json(UPDATE, self.api.batch.update_with_http_info, stream, body)
        out: dict[int, WriteResult] = {}
        by_id = {one.id_value: i for i, one in enumerate(part)}
        for row in data.get("results") or []:
            index = by_id.get(str(row.get("id")))
            if index is not None:
                out[index] = WriteResult.success(part[index].key, str(row["id"]), created=False)
        for error in data.get("errors") or []:
            body_ = parse_body(error)
            ids = set(body_.ids())
            for i, one in enumerate(part):
                if i not in out and one.id_value in ids:
                    out[i] = failure_from(one.key, 400, body_)
        for i, one in enumerate(part):
            out.setdefault(
                i,
                WriteResult.failure(
                    one.key,
                    "NO_RESULT",
                    "HubSpot returned no outcome for this record",
                    retriable=True,
                ),
            )
        return [out[i] for i in range(len(part))]

    def _send(
        self, stream: str, part: list[_Input], id_property: str, *, retried: bool
    ) -> list[WriteResult]:
        body = {"inputs": [_upsert_input(one, id_property) for one in part]}
        try:
            data, _ = self.api.call_json(UPSERT, self.api.batch.upsert_with_http_info, stream, body)
        except HubSpotApiError as err:
            if err.status == 404:
                raise Fatal(
                    f"HubSpot has no object type '{stream}' ({err.body.message}); check the "
                    "pipeline's crm.object",
                    code=err.body.category or "OBJECT_NOT_FOUND",
                ) from err
            if err.status != 400:
                raise
            if _about_id_property(err, id_property):
                if retried:
                    raise Fatal(
                        f"HubSpot refuses '{id_property}' as the upsert key on {stream}: "
                        f"{err.body.message}",
                        code=err.body.category or "VALIDATION_ERROR",
                    ) from err
                self.keeper.ensure(stream, id_property, recheck=True)
                return self._send(stream, part, id_property, retried=True)
            if "infer object type" in err.body.message.lower():
                raise Fatal(
                    f"HubSpot has no object type '{stream}'; check the pipeline's crm.object",
                    code=err.body.category or "VALIDATION_ERROR",
                ) from err
            return self._drop_missing_properties(stream, part, id_property, err)
        return _map_results(part, data, id_property)

    def _drop_missing_properties(
        self, stream: str, part: list[_Input], id_property: str, err: HubSpotApiError
    ) -> list[WriteResult]:
        """Fail the inputs that set a property the object lacks; send the rest again."""
        missing = {name for name, code in err.body.properties if code == "PROPERTY_DOESNT_EXIST"}
        bad = {i for i, one in enumerate(part) if missing & set(one.item.payload)}
        if not bad:
            raise err
        out: dict[int, WriteResult] = {}
        for i in bad:
            name = sorted(missing & set(part[i].item.payload))[0]
            out[i] = WriteResult.failure(
                part[i].key,
                "PROPERTY_DOESNT_EXIST",
                f"HubSpot property '{name}' does not exist on {stream}; create it or fix "
                "the mapping",
                name,
            )
        rest = [i for i in range(len(part)) if i not in bad]
        if rest:
            chunk = [part[i] for i in rest]
            sent = isolate(
                chunk,
                lambda p: self._send(stream, p, id_property, retried=False),
                lambda one, e: failure_from(one.key, e.status, e.body),
            )
            out.update(zip(rest, sent, strict=True))
        return [out[i] for i in range(len(part))]


def _id_value(item: WriteItem, id_property: str) -> str:
    raw = item.payload.get(id_property)
    value = to_text(raw).strip() if raw not in (None, "") else item.key
    return value.lower() if id_property == "email" else value


def _upsert_input(one: _Input, id_property: str) -> dict[str, Any]:
    """One batch-upsert input as JSON (generated models are too slow at this volume)."""
    properties = {name: to_text(value) for name, value in one.item.payload.items()}
    properties[id_property] = one.id_value
    return {
        "idProperty": id_property,
        "objectWriteTraceId": one.key,
        "id": one.id_value,
        "properties": properties,
    }


def _chunks(pending: list[_Input], id_property: str) -> Iterator[list[_Input]]:
    """Chunks of at most 100 with no id value or trace id twice (HubSpot refuses duplicates)."""
    chunk: list[_Input] = []
    seen: set[str] = set()
    for one in pending:
        marks = {f"id:{norm(one.id_value)}", f"trace:{one.key}"}
        if len(chunk) == BATCH_LIMIT or marks & seen:
            yield chunk
            chunk, seen = [], set()
        chunk.append(one)
        seen |= marks
    if chunk:
        yield chunk


def _about_id_property(err: HubSpotApiError, id_property: str) -> bool:
    """A 400 saying the id property does not exist or is not unique."""
    if (id_property, "PROPERTY_DOESNT_EXIST") in err.body.properties:
        return True
    text = err.body.message.lower()
    return id_property in text and any(
        phrase in text for phrase in ("does not exist", "not a unique", "not unique")
    )


def _map_results(part: list[_Input], data: dict[str, Any], id_property: str) -> list[WriteResult]:
    """Per-input results from a batch upsert's JSON body (``results`` and ``errors``)."""
    by_trace = {one.key: i for i, one in enumerate(part)}
    by_id = {norm(one.id_value): i for i, one in enumerate(part)}
    out: dict[int, WriteResult] = {}
    for row in data.get("results") or []:
        index = by_trace.get(str(row.get("objectWriteTraceId") or ""))
        if index is None:
            index = by_id.get(norm((row.get("properties") or {}).get(id_property) or ""))
        if index is not None:
            created = bool(row.get("new"))
            out[index] = WriteResult.success(part[index].key, str(row["id"]), created=created)
    for error in data.get("errors") or []:
        body = parse_body(error)
        ids = {norm(v) for v in body.ids()}
        raw_ids = body.ids()
        for i, one in enumerate(part):
            if i not in out and (one.key in raw_ids or norm(one.id_value) in ids):
                out[i] = failure_from(one.key, 400, body)
    for i, one in enumerate(part):
        if i not in out:
            out[i] = WriteResult.failure(
                one.key, "NO_RESULT", "HubSpot returned no outcome for this record", retriable=True
            )
    return [out[i] for i in range(len(part))]
