"""Write-back of CRM edits into B2Connect: one call per record, one outcome per record.

``customers``/``companies``: ``PATCH /api/crm/{stream}/{key}`` with the changed fields;
``consents``: ``POST /api/crm/consents`` (B2Connect upserts on subject, channel and purpose);
``erasures``: ``PATCH /api/crm/erasures/{key}`` (status updates of an erasure request);
``orders`` are owned by B2Connect: every item fails with ``READ_ONLY``.

A 400 problem detail becomes a failure with the first offending field; 404 → ``NOT_FOUND``;
409 → ``CONFLICT``. Auth and transient problems (401/403/429/5xx, timeouts) raise for the
whole batch: every call here is idempotent (PATCH of values, upsert of consents), so the
engine may replay the batch, items already written included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from connectors.b2connect._http import ApiResponse, B2ConnectHttp
from connectors.errors import Fatal
from connectors.records import WriteItem, WriteResult

__all__ = ["CREATABLE", "ENTITY_ROUTE", "WRITABLE", "BackWriter"]

log = structlog.get_logger(__name__)

ENTITY_ROUTE = "/api/crm/{entity}/{rid}"
CONSENTS_ROUTE = "/api/crm/consents"
PATCH_ROUTES = {
    "customers": "/api/crm/customers/{rid}",
    "companies": "/api/crm/companies/{rid}",
    "erasures": "/api/crm/erasures/{rid}",
}
WRITABLE = frozenset({*PATCH_ROUTES, "consents"})
CREATE_ROUTES = {"customers": "/api/crm/customers", "companies": "/api/crm/companies"}
CREATABLE = frozenset(CREATE_ROUTES)
READ_ONLY_STREAMS = frozenset({"orders"})


class BackWriter:
    """Sends write-backs and turns each answer into a :class:`WriteResult`."""

    def __init__(self, http: B2ConnectHttp) -> None:
        self.http = http

    def write(self, stream: str, batch: Sequence[WriteItem]) -> list[WriteResult]:
        if stream in READ_ONLY_STREAMS:
            return [
                WriteResult.failure(
                    item.key,
                    "READ_ONLY",
                    f"B2Connect owns {stream}; b2sync does not write them back",
                )
                for item in batch
            ]
        if stream not in WRITABLE:
            raise Fatal(
                f"B2Connect has no write-back for stream '{stream}'; "
                f"writable streams: {', '.join(sorted(WRITABLE))}",
                code="UNKNOWN_STREAM",
            )
        results = [self._one(stream, item) for item in batch]
        failed = sum(1 for r in results if not r.ok)
        log.info("b2connect.write", stream=stream, records=len(batch), failed=failed)
        return results

    def create(self, stream: str, batch: Sequence[WriteItem]) -> list[WriteResult]:
        """Create records (``POST /api/crm/customers|companies``), one call each. A 409 that
        names the live record already holding the email (customers) or VAT id (companies)
        is a match, not a failure: its result carries that id with ``created=False``."""
        if stream not in CREATABLE:
            raise Fatal(
                f"B2Connect has no create route for stream '{stream}'; "
                f"creatable streams: {', '.join(sorted(CREATABLE))}",
                code="UNKNOWN_STREAM",
            )
        results = []
        for item in batch:
            resp = self.http.request("POST", CREATE_ROUTES[stream], json_body=dict(item.payload))
            body: Any = resp.body if isinstance(resp.body, dict) else {}
            existing = body.get("existingId") if resp.status == 409 else None
            if existing:
                results.append(WriteResult.success(item.key, str(existing), created=False))
            else:
                results.append(outcome(stream, item.key, resp))
        created = sum(1 for r in results if r.ok and r.created)
        log.info("b2connect.create", stream=stream, records=len(batch), created=created)
        return results

    def _one(self, stream: str, item: WriteItem) -> WriteResult:
        if stream == "consents":
            resp = self.http.request("POST", CONSENTS_ROUTE, json_body=dict(item.payload))
        else:
            if not item.key:
                return WriteResult.failure(
                    item.key, "NO_KEY", f"a {stream} write-back needs the B2Connect id"
                )
            resp = self.http.request(
                "PATCH", PATCH_ROUTES[stream], path={"rid": item.key}, json_body=dict(item.payload)
            )
        return outcome(stream, item.key, resp)


def outcome(stream: str, key: str, resp: ApiResponse) -> WriteResult:
    """The per-record result of one write call."""
    if resp.ok:
        body: Any = resp.body if isinstance(resp.body, dict) else {}
        rid = body.get("id")
        return WriteResult.success(key, str(rid) if rid else key, created=resp.status == 201)
    problem = resp.problem
    if resp.status == 404:
        return WriteResult.failure(
            key, "NOT_FOUND", f"B2Connect has no {stream} record {key}: {problem.describe()}"
        )
    if resp.status == 409:
        return WriteResult.failure(key, "CONFLICT", problem.describe(), problem.field)
    if resp.status in (400, 422):
        return WriteResult.failure(
            key, problem.code or "VALIDATION", problem.describe(), problem.field
        )
    return WriteResult.failure(
        key,
        problem.code or f"HTTP_{resp.status}",
        f"B2Connect answered {resp.status}: {problem.describe()}",
    )
