"""Bulk API 2.0 ingest: upserts of large batches and the hard delete used by erasure.

Each job is driven by :func:`connectors.salesforce._bulk_jobs.run_ingest_job` (create,
upload, close, polls backing off exponentially from a short first one, then only the result
sets that have rows). Per-record outcomes come from the ``successfulResults`` (``sf__Id``,
``sf__Created``), ``failedResults`` (``sf__Id``, ``sf__Error`` = ``CODE:message:fields --``)
and ``unprocessedrecords`` CSVs, matched back to the batch by the external id column. Jobs
are never deleted afterwards: simple-salesforce's ``delete_job`` parses the empty 204 body as
JSON and fails, and Salesforce removes finished jobs after seven days anyway.
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
from simple_salesforce.bulk2 import Operation

from connectors.records import WriteItem, WriteResult
from connectors.salesforce._api import Api
from connectors.salesforce._bulk_jobs import JobOutcome, Polling, run_ingest_job, split_csv
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


def _outcomes(job: JobOutcome, id_field: str) -> Iterable[tuple[str, WriteResult]]:
    """(external id, result) for every row the job reports."""
    for row in _rows(job.successful):
        key = row.get(id_field, "")
        created = row.get("sf__Created", "").lower() == "true"
        yield key, WriteResult.success(key, row.get("sf__Id") or None, created=created)
    for row in _rows(job.failed):
        key = row.get(id_field, "")
        code, message, name = parse_bulk_error(row.get("sf__Error", ""))
        retriable = code in RETRIABLE_CODES
        yield key, WriteResult.failure(key, code, message, name, retriable=retriable)
    for row in _rows(job.unprocessed):
        key = row.get(id_field, "")
        message = "the Bulk API job stopped before processing this record"
        yield key, WriteResult.failure(key, "UNPROCESSED", message, retriable=True)


def upsert_bulk(
    api: Api, sobject: str, id_field: str, batch: Sequence[WriteItem], polling: Polling
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
    for data in split_csv(records):

        def run(sf: Salesforce, data: tuple[int, str] = data) -> JobOutcome:
            return run_ingest_job(
                sf, sobject, Operation.upsert, data, polling=polling, external_id_field=id_field
            )

        for key, result in _outcomes(api.call(run), id_field):
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


def hard_delete(api: Api, sobject: str, ids: Sequence[str], polling: Polling) -> HardDeleted:
    """Permanently delete ``ids`` with Bulk 2.0 ``hardDelete`` job(s) (Id-only CSV)."""
    out = HardDeleted()
    for data in split_csv([{"Id": rid} for rid in ids]):

        def run(sf: Salesforce, data: tuple[int, str] = data) -> JobOutcome:
            return run_ingest_job(sf, sobject, Operation.hard_delete, data, polling=polling)

        job = api.call(run)
        for row in _rows(job.successful):
            out.deleted.append(row.get("sf__Id") or row.get("Id", ""))
        for row in _rows(job.failed):
            code, message, _ = parse_bulk_error(row.get("sf__Error", ""))
            out.failed[row.get("Id") or row.get("sf__Id", "")] = (code, message)
    return out
