"""Bulk API 2.0 jobs: their info payloads and how ingest rows are applied to the store."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ._bulk2_csv import NULL_MARK, format_value, read_csv, write_csv
from ._store import MultipleMatches, Store
from ._values import SaveError

__all__ = ["INGEST_OPERATIONS", "TERMINAL", "Job", "RowResult", "process_ingest"]

INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
TERMINAL = ("JobComplete", "Failed", "Aborted")
_RECORDS_PER_BATCH = 10_000


@dataclass
class RowResult:
    """One processed input row: the record id, created flag or the error."""

    row: list[str]
    rid: str = ""
    created: bool = False
    error: SaveError | None = None


@dataclass
class Job:
    """An ingest or query job and everything the emulator remembers about it."""

    id: str
    kind: str  # "ingest" | "query"
    operation: str
    object: str
    created_by: str
    created_date: str
    version: str
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    external_id: str | None = None
    query: str | None = None
    state: str = "Open"
    system_modstamp: str = ""
    uploads: list[bytes] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    locked: set[int] = field(default_factory=set)
    results: list[RowResult] = field(default_factory=list)
    processed: bool = False
    polls_left: int = 0
    error_message: str | None = None
    query_header: list[str] = field(default_factory=list)
    query_rows: list[list[str]] = field(default_factory=list)

    def info(self, *, detailed: bool) -> dict[str, Any]:
        """The job info JSON (``detailed`` adds the counters GET returns)."""
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.system_modstamp or self.created_date,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version[1:]),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if self.kind == "ingest":
            if self.external_id:
                out["externalIdFieldName"] = self.external_id
            out["contentUrl"] = f"services/data/{self.version}/jobs/ingest/{self.id}/batches"
        if detailed:
            failed = sum(1 for r in self.results if r.error is not None)
            processed = len(self.query_rows) if self.kind == "query" else len(self.results)
            out.update(
                jobType="V2Ingest" if self.kind == "ingest" else "V2Query",
                numberRecordsProcessed=processed,
                retries=0,
                totalProcessingTime=processed,
            )
            if self.kind == "ingest":
                out.update(
                    numberRecordsFailed=failed,
                    apiActiveProcessingTime=processed,
                    apexProcessingTime=0,
                )
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out

    def batches(self) -> int:
        """Internal batches this job consumes (one per 10,000 records)."""
        return max(1, math.ceil(len(self.rows) / _RECORDS_PER_BATCH))

    def load_rows(self) -> None:
        """Parse every upload; ValueError with Salesforce's wording when one is unreadable."""
        for data in self.uploads:
            try:
                header, rows = read_csv(data, self.column_delimiter)
            except (ValueError, UnicodeDecodeError) as err:
                raise ValueError(f"InvalidBatch : {err}") from err
            if self.header and header != self.header:
                raise ValueError("InvalidBatch : every upload must have the same header")
            self.header = header
            self.rows.extend(rows)

    def result_csv(self, which: str) -> str:
        """successfulResults / failedResults / unprocessedrecords as CSV text."""
        if which == "successfulresults":
            head = ["sf__Id", "sf__Created", *self.header]
            rows = [
                [r.rid, format_value(r.created), *r.row] for r in self.results if r.error is None
            ]
        elif which == "failedresults":
            head = ["sf__Id", "sf__Error", *self.header]
            rows = [[r.rid, _error_text(r.error), *r.row] for r in self.results if r.error]
        else:
            head = list(self.header)
            rows = list(self.rows[len(self.results) :])
        return write_csv(head, rows, self.column_delimiter, self.line_ending)


def _error_text(err: SaveError | None) -> str:
    if err is None:
        return ""
    return f"{err.code}:{err.message}:{','.join(err.fields)} --"


def _row_data(header: list[str], row: list[str]) -> dict[str, Any]:
    """Column values as a write body: empty cells skipped, ``#N/A`` nulls, ``Rel__r.Ext``
    columns turned into relationship references."""
    data: dict[str, Any] = {}
    for name, cell in zip(header, row, strict=True):
        if cell == "":
            continue
        value = None if cell == NULL_MARK else cell
        if "." in name:
            rel, ext = name.split(".", 1)
            data[rel] = {ext: value}
        else:
            data[name] = value
    return data


def _check_header(store: Store, job: Job) -> None:
    obj = store.schema[job.object]
    for name in job.header:
        known = obj.relationship(name.split(".", 1)[0]) if "." in name else obj.field_ci(name)
        if known is None:
            raise ValueError(f"InvalidBatch : Field name not found : {name}")
    needs_id = job.operation in {"update", "delete", "hardDelete"}
    if needs_id and not any(h.lower() == "id" for h in job.header):
        raise ValueError("InvalidBatch : Field name not found : Id")
    ext = job.external_id
    if job.operation == "upsert" and ext and not any(h.lower() == ext.lower() for h in job.header):
        raise ValueError(f"InvalidBatch : Field name not found : {job.external_id}")


def _apply(store: Store, job: Job, row: list[str], user: str) -> RowResult:
    data = _row_data(job.header, row)
    rid = str(next((v for k, v in data.items() if k.lower() == "id"), "") or "")
    result = RowResult(row, rid=rid)
    op = job.operation
    if op == "insert":
        result.rid, result.created = store.create(job.object, data, user)["Id"], True
    elif op == "update":
        body = {k: v for k, v in data.items() if k.lower() != "id"}
        result.rid = store.update(job.object, rid, body, user)["Id"]
    elif op == "upsert":
        ext = job.external_id or "Id"
        value = next((v for k, v in data.items() if k.lower() == ext.lower()), None)
        if ext.lower() == "id" and not value:
            data = {k: v for k, v in data.items() if k.lower() != "id"}
            result.rid, result.created = store.create(job.object, data, user)["Id"], True
        elif value is None:
            raise SaveError("MISSING_ARGUMENT", f"{ext} not specified", [ext])
        else:
            rec, result.created = store.upsert(job.object, ext, value, data, user)
            result.rid = rec["Id"]
    elif op == "delete":
        _same_object(store, job, rid)
        store.delete(rid, user)
    else:
        _hard_delete(store, job, rid)
    return result


def _hard_delete(store: Store, job: Job, rid: str) -> None:
    """A row already in the Recycle Bin, or already purged, answers ENTITY_IS_DELETED."""
    if store.find(rid) is None and store.was_purged(rid):
        raise SaveError("ENTITY_IS_DELETED", "entity is deleted", ["Id"])
    _same_object(store, job, rid)
    found = store.find(rid)
    if found is not None and found[1]["IsDeleted"]:
        raise SaveError("ENTITY_IS_DELETED", "entity is deleted", ["Id"])
    store.hard_delete(rid)


def _same_object(store: Store, job: Job, rid: str) -> None:
    found = store.find(rid)
    if found is None or found[0] != job.object:
        raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"])


def process_ingest(store: Store, job: Job, user: str) -> None:
    """Apply every uploaded row (each in its own transaction); failures are per row."""
    try:
        _check_header(store, job)
    except ValueError as err:
        job.error_message = str(err)
        return
    for index, row in enumerate(job.rows):
        if index in job.locked:
            error = SaveError(
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 1 records",
            )
            job.results.append(RowResult(row, error=error))
            continue
        try:
            with store.transaction():
                job.results.append(_apply(store, job, row, user))
        except MultipleMatches as err:
            error = SaveError("DUPLICATE_EXTERNAL_ID", str(err), [err.field])
            job.results.append(RowResult(row, error=error))
        except SaveError as err:
            rid = "" if job.operation in {"insert", "upsert"} else row_id(job, row)
            job.results.append(RowResult(row, rid=rid, error=err))


def row_id(job: Job, row: list[str]) -> str:
    """The Id column's value of an input row ("" when there is none)."""
    for name, cell in zip(job.header, row, strict=True):
        if name.lower() == "id":
            return cell
    return ""
