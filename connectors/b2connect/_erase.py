"""GDPR erasure propagation to B2Connect: ``POST /api/crm/erasures``.

B2Connect records the request (origin ``crm``) and erases the shopper's data, at once
(``completed``) or later (``pending``, progress visible in the erasures feed). Either way
b2sync's part is done, so any 2xx counts as done (retrying would file a second request). A 400 (the subject cannot be identified) is reported as not
done with B2Connect's reason; auth and transient problems raise like every other call.
"""

from __future__ import annotations

from typing import Any

import structlog

from connectors.b2connect._http import B2ConnectHttp
from connectors.records import ErasureResult, Subject

__all__ = ["ERASURES_ROUTE", "Eraser"]

log = structlog.get_logger(__name__)

ERASURES_ROUTE = "/api/crm/erasures"
SYSTEM = "b2connect"


class Eraser:
    """Registers erasures with B2Connect."""

    def __init__(self, http: B2ConnectHttp) -> None:
        self.http = http

    def erase(self, subject: Subject) -> ErasureResult:
        body: dict[str, Any] = {"source": "b2sync"}
        if subject.b2connect_id:
            body["subjectId"] = subject.b2connect_id
        if subject.email:
            body["email"] = subject.email
        if "subjectId" not in body and "email" not in body:
            return ErasureResult(
                SYSTEM, done=False, detail="no B2Connect id or email to identify the subject"
            )
        if subject.request_id:
            body["reason"] = f"GDPR Art. 17 erasure request {subject.request_id}"
        resp = self.http.request("POST", ERASURES_ROUTE, json_body=body)
        if not resp.ok:
            log.warning("b2connect.erasure_refused", status=resp.status, request=subject.request_id)
            return ErasureResult(
                SYSTEM,
                done=False,
                detail=f"B2Connect refused the erasure ({resp.status}): {resp.problem.describe()}",
            )
        data = resp.body if isinstance(resp.body, dict) else {}
        rid, status = data.get("id"), data.get("status")
        log.info("b2connect.erasure_registered", erasure=rid, status=status)
        registered = f"erasure request {rid or '?'} registered ({status or 'accepted'})"
        if "subjectId" in body:
            return ErasureResult(SYSTEM, done=True, detail=registered)
        # asked by email only: B2Connect names the customer it matched, if any
        if data.get("subjectId"):
            return ErasureResult(SYSTEM, done=True, detail=registered, found=True)
        detail = f"not found: no customer with this email; {registered}"
        return ErasureResult(SYSTEM, done=True, detail=detail, found=False)
