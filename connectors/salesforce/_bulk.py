"""Bulk API 2.0 ingest: upserts of large batches and the hard delete used by erasure.

simple-salesforce creates the job, uploads CSV, closes it and polls (``wait`` seconds before
the first poll, configurable so tests stay fast). Per-record outcomes come from the
``successfulResults`` (``sf__Id``, ``sf__Created``), ``failedResults`` (``sf__Id``,
``sf__Error`` = ``CODE:message:fields --``) and ``unprocessedrecords`` CSVs, matched back to
the batch by the external id column. Jobs are never deleted afterwards: simple-salesforce's
``delete_job`` parses the empty 204 body as JSON and fails, and Salesforce removes finished
jobs after seven days anyway.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog
from simple_salesforce.api import Salesforce

from connectors.records import WriteItem, WriteResult
from connectors.salesforce._api import Api, bulk2
from connectors.salesforce._errors import RETRIABLE_CODES
from connectors.salesforce._values import InvalidValue, csv_value

__all__ = ["HardDeleted", "hard_delete", "parse_bulk_error", "upsert_bulk"]

log = structlog.get_logger(__name__)

_FIELDS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z][A-Za-z0-9_]*)*")


def parse_bulk_error(text: str) -> tuple[str, str, str | None]:
    """(code, message, first field) from an ``sf__Error`` cell."""
    cleaned = text.strip().removesuffix("--").strip()
    code, _, rest = cleaned.partition(":")
    message, first = rest, None
    head, sep, tail = rest.rpartition(":")
    if sep and not tail.strip():
        message = head
    elif sep and _FIELDS_RE.fullmatch(tail.strip()):
        message, first = head, tail.strip().split(",")[0].strip()
    return code.strip() or "UNKNOWN", message.strip() or code.strip(), first


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _csv_record(id_field: str, item: WriteItem) -> dict[str, str]:
    row = {
        name: csv_value(name, value)
        for name, value in item.payload.items()
        if name not in ("Id", "attributes")
    }
    row[id_field] = item.key
    return row


def _outcomes(
    sf: Salesforce, sobject: str, id_field: str, job_id: str
) -> Iterable[tuple[str, WriteResult]]:
    """(external id, result) for every row the job reports."""
    handler = bulk2(sf, sobject)
    for row in _rows(handler.get_successful_records(job_id)):
        key = row.get(id_field, "")
        created = row.get("sf__Created", "").lower() == "true"
        yield key, WriteResult.success(key, row.get("sf__Id") or None, created=created)
    for row in _rows(handler.get_failed_records(job_id)):
        key = row.get(id_field, "")
        code, message, name = parse_bulk_error(row.get("sf__Error", ""))
        retriable = code in RETRIABLE_CODES
        yield key, WriteResult.failure(key, code, message, name, retriable=retriable)
    for row in _rows(handler.get_unprocessed_records(job_id)):
        key = row.get(id_field, "")
        message = "the Bulk API job stopped before processing this record"
        yield key, WriteResult.failure(key, "UNPROCESSED", message, retriable=True)


def upsert_bulk(
    api: Api, sobject: str, id_field: str, batch: Sequence[WriteItem], wait: float
) -> list[WriteResult]:
    """Upsert ``batch`` in Bulk API 2.0 job(s); one result per item, in order."""
    local: dict[int, WriteResult] = {}
    records: list[dict[str, str]] = []
    for index, item in enumerate(batch):
        try:
            records.append(_csv_record(id_field, item))
        except InvalidValue as exc:
            local[index] = WriteResult.failure(item.key, "INVALID_VALUE", str(exc), exc.field)
    found: dict[str, deque[WriteResult]] = defaultdict(deque)
    if records:

        def run(sf: Salesforce) -> list[tuple[str, WriteResult]]:
            jobs = bulk2(sf, sobject).upsert(
                records=records,
                external_id_field=id_field,
                wait=wait,  # type: ignore[arg-type]
            )
            return [
                pair
                for job in jobs
                for pair in _outcomes(sf, sobject, id_field, str(job["job_id"]))
            ]

        for key, result in api.call(run):
            found[key].append(result)
    out = [local.get(i) or _take(found, item.key) for i, item in enumerate(batch)]
    failed = sum(1 for r in out if not r.ok)
    log.info("salesforce.bulk_upserted", sobject=sobject, records=len(out), failed=failed)
    return out


def _take(found: Mapping[str, deque[WriteResult]], key: str) -> WriteResult:
    queue = found.get(key)
    if queue:
        return queue.popleft()
    return WriteResult.failure(
        key, "NO_RESULT", "the Bulk API job reported nothing for this record", retriable=True
    )


@dataclass(frozen=True, slots=True)
class HardDeleted:
    """What a hard delete did: ids removed for good, and failures by id (code, message)."""

    deleted: list[str] = field(default_factory=list)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)


def hard_delete(api: Api, sobject: str, ids: Sequence[str], wait: float) -> HardDeleted:
    """Permanently delete ``ids`` with a Bulk 2.0 ``hardDelete`` job (Id-only CSV)."""
    if not ids:
        return HardDeleted()

    def run(sf: Salesforce) -> HardDeleted:
        handler = bulk2(sf, sobject)
        jobs = handler.hard_delete(
            records=[{"Id": rid} for rid in ids],
            wait=wait,  # type: ignore[arg-type]
        )
        out = HardDeleted()
        for job in jobs:
            job_id = str(job["job_id"])
            for row in _rows(handler.get_successful_records(job_id)):
                out.deleted.append(row.get("sf__Id") or row.get("Id", ""))
            for row in _rows(handler.get_failed_records(job_id)):
                code, message, _ = parse_bulk_error(row.get("sf__Error", ""))
                out.failed[row.get("Id") or row.get("sf__Id", "")] = (code, message)
        return out

    return api.call(run)
