"""One Bulk API 2.0 ingest job, driven call by call with exponentially backed-off polling.

simple-salesforce's ``SFBulk2Type.upsert`` sleeps ``wait`` seconds before its first status
poll and then polls every ``wait + e**n / 1000`` seconds (so never sooner than ``wait``), and
after the job completes reads the job once more and asks for all three result sets: create,
upload, close, the polls, one more ``GET`` of the job, successful, failed and unprocessed
results, 9 sequential calls for a job that finishes on its second poll, plus the sleeps.

Here the same client primitives (``create_job``, ``upload_job_data``, ``close_job``,
``get_job``, ``get_ingest_results``, ``abort_job``: still simple-salesforce's session, auth
and error handling) are called in that order, but

- the first poll comes after a short pause and each later pause doubles, up to a cap
  (:class:`Polling`), so a small job is read as soon as it is done and a long one costs few
  polls;
- the poll that sees ``JobComplete`` carries the job's counters, so no extra ``GET``;
- a result set is only fetched when the counters say it has rows (failed results only when
  ``numberRecordsFailed > 0``, unprocessed ones only when fewer records were processed than
  uploaded): a clean job costs create, upload, close, its polls and one result read.

A job that ends ``Failed`` or ``Aborted`` or outlives :attr:`Polling.timeout_s` raises
simple-salesforce's ``SalesforceOperationError`` (its wording, so the connector's error
translation is the same as before); a job still open when something fails is aborted.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import JobState, Operation, ResultsType
from simple_salesforce.exceptions import SalesforceOperationError

from connectors.salesforce._api import bulk2

__all__ = ["JobOutcome", "Polling", "run_ingest_job", "split_csv"]

#: what Salesforce accepts in one job's upload (Bulk API 2.0: 100 MB of CSV, after encoding)
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
_TERMINAL = frozenset({JobState.job_complete, JobState.failed, JobState.aborted})


@dataclass(frozen=True, slots=True)
class Polling:
    """When to ask a Bulk job for its state: ``first_s`` after closing it, then each pause
    ``factor`` times the one before, at most ``max_s``; give up after ``timeout_s``."""

    first_s: float = 0.2
    factor: float = 2.0
    max_s: float = 10.0
    timeout_s: float = 3600.0

    def pauses(self) -> Iterator[float]:
        """The pause before each poll, forever (the caller stops at the timeout)."""
        pause = max(0.0, self.first_s)
        while True:
            yield pause
            pause = min(self.max_s, max(pause * self.factor, 0.01))


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """A finished job: its id, final counters and the CSV result sets that were read."""

    job_id: str
    info: Mapping[str, Any]
    successful: str = ""
    failed: str = ""
    unprocessed: str = ""
    polls: int = 0


def split_csv(
    records: Sequence[Mapping[str, str]], limit: int = MAX_UPLOAD_BYTES
) -> list[tuple[int, str]]:
    """``records`` as (row count, CSV text) files below ``limit`` bytes each: LF line ends, a
    header of every column in first-seen order, an empty cell ("leave as is") where a record
    has no value for a column."""
    columns = list(dict.fromkeys(name for record in records for name in record))
    whole = _csv_rows(columns, records)
    if len(whole) * 4 <= limit or len(whole.encode("utf-8")) <= limit:  # the usual case
        return [(len(records), whole)] if records else []
    header = _csv_rows(columns, [])
    files: list[tuple[int, str]] = []
    rows: list[str] = []
    size = len(header.encode("utf-8"))
    for record in records:
        row = _csv_rows(columns, [record]).removeprefix(header)
        row_size = len(row.encode("utf-8"))
        if rows and size + row_size > limit:
            files.append((len(rows), header + "".join(rows)))
            rows, size = [], len(header.encode("utf-8"))
        rows.append(row)
        size += row_size
    if rows:
        files.append((len(rows), header + "".join(rows)))
    return files


def _csv_rows(columns: list[str], records: Sequence[Mapping[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def run_ingest_job(
    sf: Salesforce,
    sobject: str,
    operation: Operation,
    data: tuple[int, str],
    *,
    polling: Polling,
    external_id_field: str | None = None,
    sleep: Callable[[float], object] | None = None,
) -> JobOutcome:
    """Create, fill, close and wait for one ingest job; read the result sets it has rows in."""
    client = bulk2(sf, sobject)._client  # simple-salesforce's Bulk 2.0 client (one per call)
    pause = sleep or threading.Event().wait
    created = client.create_job(operation, external_id_field=external_id_field)
    job_id = str(created["id"])
    try:
        if created.get("state") != JobState.open:
            raise SalesforceOperationError(f"Job failure. Response content: {created}")
        client.upload_job_data(job_id, data[1])
        client.close_job(job_id)
        info, polls = _wait(client, job_id, polling, pause)
    except Exception:
        _abort(client, job_id)
        raise
    total = data[0]
    processed = int(info.get("numberRecordsProcessed") or 0)
    failed = int(info.get("numberRecordsFailed") or 0)
    return JobOutcome(
        job_id=job_id,
        info=info,
        successful=_results(client, job_id, ResultsType.successful, processed > failed),
        failed=_results(client, job_id, ResultsType.failed, failed > 0),
        unprocessed=_results(client, job_id, ResultsType.unprocessed, processed < total),
        polls=polls,
    )


def _wait(
    client: Any, job_id: str, polling: Polling, pause: Callable[[float], object]
) -> tuple[Mapping[str, Any], int]:
    deadline = time.monotonic() + polling.timeout_s
    state = JobState.upload_complete
    for polls, delay in enumerate(polling.pauses(), start=1):
        if time.monotonic() + delay > deadline:
            break
        pause(delay)
        info = client.get_job(job_id, False)
        state = info["state"]
        if state in _TERMINAL:
            if state != JobState.job_complete:
                error = info.get("errorMessage") or info
                raise SalesforceOperationError(f"Job failure. Response content: {error}")
            return info, polls
    raise SalesforceOperationError(f"Job timeout. Job status: {state}")


def _results(client: Any, job_id: str, kind: str, wanted: bool) -> str:
    return str(client.get_ingest_results(job_id, kind)) if wanted else ""


def _abort(client: Any, job_id: str) -> None:
    """Abort a job left open or queued (best effort: the original error is what matters)."""
    try:
        info = client.get_job(job_id, False)
        if info.get("state") not in _TERMINAL:
            client.abort_job(job_id, False)
    except Exception:  # noqa: BLE001 - the caller re-raises the error that got us here
        return
