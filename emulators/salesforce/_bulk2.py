"""Bulk API 2.0 routes: ingest jobs (create, upload, close, poll, results, delete) and
query jobs (create, poll, paged CSV results with ``Sforce-Locator``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, HttpError, json_response

from . import soql
from ._bulk2_csv import DELIMITERS, LINE_ENDINGS, decode_locator, encode_locator, format_value
from ._bulk2_csv import write_csv as _write_csv
from ._bulk2_jobs import INGEST_OPERATIONS, TERMINAL, Job, process_ingest
from ._common import API, api_version, body_object
from ._host import SalesforceHost
from ._query import run_soql
from ._soql_values import lookup

__all__ = ["register"]

#: the refusal of a hardDelete job by a user without the "Bulk API Hard Delete" permission
HARD_DELETE_REFUSED = (
    "hardDelete operation requires special user profile permission, please contact your "
    "system administrator"
)
_RESULT_KINDS = ("successfulresults", "failedresults", "unprocessedrecords")


def register(emu: SalesforceHost) -> None:
    bulk = _Bulk2(emu)
    ingest = f"{API}/jobs/ingest"
    query = f"{API}/jobs/query"
    emu.route("POST", ingest, bulk.create_ingest)
    emu.route("GET", ingest, lambda req: bulk.list_jobs(req, "ingest"))
    emu.route("PUT", f"{ingest}/{{job_id}}/batches", bulk.upload)
    emu.route("PATCH", f"{ingest}/{{job_id}}", lambda req: bulk.set_state(req, "ingest"))
    emu.route("GET", f"{ingest}/{{job_id}}", lambda req: bulk.get_job(req, "ingest"))
    emu.route("DELETE", f"{ingest}/{{job_id}}", lambda req: bulk.delete_job(req, "ingest"))
    for slash in ("", "/"):
        emu.route(
            "GET",
            f"{ingest}/{{job_id}}/{{kind}}{slash}",
            bulk.results,
            name=f"{ingest}/{{job_id}}/{{kind}}",
        )
    emu.route("POST", query, bulk.create_query)
    emu.route("GET", query, lambda req: bulk.list_jobs(req, "query"))
    emu.route("GET", f"{query}/{{job_id}}", lambda req: bulk.get_job(req, "query"))
    emu.route("PATCH", f"{query}/{{job_id}}", lambda req: bulk.set_state(req, "query"))
    emu.route("DELETE", f"{query}/{{job_id}}", lambda req: bulk.delete_job(req, "query"))
    emu.route("GET", f"{query}/{{job_id}}/results", bulk.query_results)


class _Bulk2:
    def __init__(self, emu: SalesforceHost) -> None:
        self.emu = emu

    # ---- creating jobs

    def _new_job(self, req: EmuRequest, kind: str, body: dict[str, Any], **kw: Any) -> Job:
        delimiter = str(body.get("columnDelimiter") or "COMMA")
        line_ending = str(body.get("lineEnding") or "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise HttpError(400, "INVALIDJOB", "Invalid columnDelimiter or lineEnding")
        if str(body.get("contentType") or "CSV") != "CSV":
            raise HttpError(400, "INVALIDJOB", "Only CSV content is supported")
        stamp = self.emu.store.now()
        job = Job(
            id=self.emu.store.ids.new("750"),
            kind=kind,
            created_by=self.emu.integration_user_id,
            created_date=stamp,
            system_modstamp=stamp,
            version=api_version(req),
            column_delimiter=delimiter,
            line_ending=line_ending,
            **kw,
        )
        self.emu.jobs[job.id] = job
        return job

    def create_ingest(self, req: EmuRequest) -> Response:
        api_version(req)
        body = body_object(req)
        operation = str(body.get("operation") or "")
        if operation not in INGEST_OPERATIONS:
            raise HttpError(400, "INVALIDJOB", f"Invalid operation: {operation or 'none'}")
        if operation == "hardDelete" and not self.emu.hard_delete_permission:
            # Salesforce refuses the job when the user lacks the "Bulk API Hard Delete"
            # permission, off by default in a new org (Bulk API 2.0 Developer Guide, "Create
            # a Job", operation hardDelete; see docs/fidelity.md for the wording's source)
            raise HttpError(400, "FEATURENOTENABLED", HARD_DELETE_REFUSED)
        name = str(body.get("object") or "")
        obj = self.emu.store.schema.get(name)
        if obj is None:
            raise HttpError(400, "INVALIDJOB", f"Unable to find object: {name}")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            if not external:
                raise HttpError(
                    400, "INVALIDJOB", f"External ID was blank for {name}. An External ID must "
                    "be specified for upsert."
                )  # fmt: skip
            f = obj.field_ci(str(external))
            if f is None or not (f.external_id or f.name == "Id"):
                raise HttpError(
                    400,
                    "INVALIDJOB",
                    f"Field name provided, {external} is not an External ID or indexed field "
                    f"for {name}",
                )
            external = f.name
        job = self._new_job(
            req, "ingest", body, operation=operation, object=obj.name, external_id=external
        )
        return json_response(job.info(detailed=False))

    def create_query(self, req: EmuRequest) -> Response:
        version = api_version(req)
        body = body_object(req)
        operation = str(body.get("operation") or "query")
        if operation not in {"query", "queryAll"}:
            raise HttpError(400, "INVALIDJOB", f"Invalid operation: {operation}")
        text = str(body.get("query") or "")
        result = run_soql(
            self.emu.store, text, include_deleted=operation == "queryAll", version=version
        )
        if result.is_count:
            raise HttpError(
                400, "INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0"
            )
        if not self.emu.limits.bulk_query_jobs.take():
            raise HttpError(
                400, "LIMIT_EXCEEDED", "Exceeded the daily limit of Bulk API 2.0 query jobs"
            )
        job = self._new_job(
            req, "query", body, operation=operation, object=result.sobject, query=text
        )
        job.state = "UploadComplete"
        job.polls_left = self.emu.bulk_polls
        return json_response(job.info(detailed=False))

    # ---- job lifecycle

    def _job(self, req: EmuRequest, kind: str) -> Job:
        api_version(req)
        job = self.emu.jobs.get(req.path_params["job_id"])
        if job is None or job.kind != kind:
            raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def list_jobs(self, req: EmuRequest, kind: str) -> Response:
        api_version(req)
        jobs = [j.info(detailed=False) for j in self.emu.jobs.values() if j.kind == kind]
        return json_response({"done": True, "records": jobs, "nextRecordsUrl": None})

    def upload(self, req: EmuRequest) -> Response:
        job = self._job(req, "ingest")
        if job.state != "Open":
            raise HttpError(409, "INVALIDJOBSTATE", f"Job is in state {job.state}, not Open")
        if not req.body:
            raise HttpError(400, "INVALIDBATCH", "The request body is empty")
        job.uploads.append(req.body)
        return Response(status_code=201)

    def set_state(self, req: EmuRequest, kind: str) -> Response:
        job = self._job(req, kind)
        target = str((body_object(req)).get("state") or "")
        if target == "Aborted" and job.state not in TERMINAL:
            job.state = "Aborted"
        elif target == "UploadComplete" and kind == "ingest" and job.state == "Open":
            job.state = "UploadComplete"
            job.polls_left = self.emu.bulk_polls
            try:
                job.load_rows()
            except ValueError as err:
                job.error_message = str(err)
            job.locked = self.emu.faults.partial_failures(req.template, len(job.rows))
        else:
            raise HttpError(
                400, "INVALIDJOBSTATE", f"Cannot change the job state from {job.state} to {target}"
            )
        job.system_modstamp = self.emu.store.now()
        return json_response(job.info(detailed=False))

    def get_job(self, req: EmuRequest, kind: str) -> Response:
        job = self._job(req, kind)
        if job.state in {"UploadComplete", "InProgress"}:
            self._advance(job)
        return json_response(job.info(detailed=True))

    def _advance(self, job: Job) -> None:
        if not job.processed:
            job.processed = True
            self._process(job)
        if job.polls_left > 0:
            job.polls_left -= 1
            job.state = "InProgress"
        else:
            job.state = "Failed" if job.error_message else "JobComplete"
        job.system_modstamp = self.emu.store.now()

    def _process(self, job: Job) -> None:
        if job.kind == "query":
            result = run_soql(
                self.emu.store,
                job.query or "",
                include_deleted=job.operation == "queryAll",
                version=job.version,
            )
            fields = list(soql.parse(job.query or "").fields)
            job.query_header = fields
            job.query_rows = [[format_value(lookup(r, f)) for f in fields] for r in result.rows]
            return
        if job.error_message:
            return
        if not job.rows:
            job.error_message = "InvalidBatch : No data was uploaded for this job"
            return
        if not self.emu.limits.bulk_batches.take(job.batches()):
            job.error_message = "Exceeded the daily limit of Bulk API batches"
            return
        process_ingest(self.emu.store, job, self.emu.integration_user_id)

    def delete_job(self, req: EmuRequest, kind: str) -> Response:
        job = self._job(req, kind)
        if job.state not in (*TERMINAL, "UploadComplete"):
            raise HttpError(400, "INVALIDJOBSTATE", f"Cannot delete a job in state {job.state}")
        del self.emu.jobs[job.id]
        return Response(status_code=204)

    # ---- results

    def results(self, req: EmuRequest) -> Response:
        job = self._job(req, "ingest")
        kind = req.path_params["kind"].lower()
        if kind not in _RESULT_KINDS:
            raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(job.result_csv(kind), media_type="text/csv")

    def query_results(self, req: EmuRequest) -> Response:
        job = self._job(req, "query")
        if job.state != "JobComplete":
            raise HttpError(412, "JOB_NOT_COMPLETE", f"Job is in state {job.state}")
        try:
            start = decode_locator(req.q("locator") or "") if req.q("locator") else 0
            size = int(req.q("maxRecords") or 0) or len(job.query_rows)
        except ValueError as err:
            raise HttpError(400, "INVALIDLOCATOR", "Invalid locator or maxRecords") from err
        rows = job.query_rows[start : start + size]
        end = start + len(rows)
        locator = encode_locator(end) if end < len(job.query_rows) else "null"
        text = _write_csv(job.query_header, rows, job.column_delimiter, job.line_ending)
        return Response(
            text,
            media_type="text/csv",
            headers={"Sforce-NumberOfRecords": str(len(rows)), "Sforce-Locator": locator},
        )
