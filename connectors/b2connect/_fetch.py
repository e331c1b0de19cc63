"""Current state of B2Connect records by id (``GET /api/crm/{entity}/{id}``).

The pull engine merges a CRM edit against B2Connect's *current* values (the delta feed only
says what changed, and the push side may not have read it yet), so it asks for the few
records a CRM change touched, one call per record. A 404 means the record is gone (deleted,
or of another tenant) and leaves it out of the answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from connectors.b2connect._delta import parse_datetime
from connectors.b2connect._http import B2ConnectHttp
from connectors.errors import Fatal
from connectors.records import Record

__all__ = ["GET_ROUTE", "RecordFetcher"]

log = structlog.get_logger(__name__)

GET_ROUTE = "/api/crm/{entity}/{rid}"
FETCHABLE = frozenset({"customers", "companies", "orders", "consents", "erasures"})


class RecordFetcher:
    """Reads records by id, one call each."""

    def __init__(self, http: B2ConnectHttp, *, tenant_id: str) -> None:
        self.http = http
        self.tenant_id = tenant_id

    def fetch(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        """The live records among ``keys`` (missing ones are left out)."""
        if stream not in FETCHABLE:
            raise Fatal(f"B2Connect has no records route for '{stream}'", code="UNKNOWN_STREAM")
        found: dict[str, Record] = {}
        for key in dict.fromkeys(keys):
            resp = self.http.request("GET", GET_ROUTE, path={"entity": stream, "rid": key})
            if resp.status == 404:
                continue
            if not resp.ok or not isinstance(resp.body, dict):
                raise Fatal(
                    f"B2Connect answered {resp.status} reading {stream} {key}: "
                    f"{resp.problem.describe()}",
                    code=resp.problem.code or f"HTTP_{resp.status}",
                )
            body = resp.body
            found[key] = Record(
                stream=stream,
                key=key,
                fields=body,
                updated_at=parse_datetime(body.get("updatedAt")),
                tenant_id=self.tenant_id,
            )
        log.info("b2connect.fetch", stream=stream, asked=len(keys), found=len(found))
        return found
