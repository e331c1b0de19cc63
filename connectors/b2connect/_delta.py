"""Reading the ``/api/crm/{entity}/delta`` feeds: page shape checks and change → Record.

A page that does not have the contract's shape stops the pipeline (:class:`Fatal`: a broken
feed is not transient). A single malformed change inside a well-formed page becomes an
*invalid record* the engine can dead-letter: key ``"invalid:<n>"`` (``n`` counts changes
from 1 within one ``read_changes`` call) and ``fields = {"_invalid": reason, **raw change}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.b2connect._http import ApiResponse, B2ConnectHttp
from connectors.errors import Fatal
from connectors.records import Page, Record

__all__ = ["CHANGE_TYPES", "DELTA_ROUTE", "DeltaReader", "parse_datetime"]

log = structlog.get_logger(__name__)

DELTA_ROUTE = "/api/crm/{entity}/delta"
CHANGE_TYPES = frozenset({"Created", "Updated", "Deleted", "Restored"})
INVALID_FIELD = "_invalid"


def parse_datetime(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 string (``Z`` accepted, naive taken as UTC)."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A delta response whose shape has been checked."""

    changes: list[Any]
    new_watermark: Any
    continuation_token: str | None
    has_more: bool
    #: changes from this page on, this page included (``remainingCount``, optional)
    remaining: int | None = None


class DeltaReader:
    """Follows one entity's delta feed from a cursor, one :class:`Page` per response."""

    def __init__(self, http: B2ConnectHttp, *, batch_size: int, tenant_id: str) -> None:
        self.http = http
        self.batch_size = batch_size
        self.tenant_id = tenant_id

    def read(self, stream: str, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        watermark = (cursor or {}).get("watermark")
        token = (cursor or {}).get("continuationToken")
        ordinal = 0
        while True:
            page = self.fetch(stream, watermark, token, self.batch_size)
            before = ordinal
            records = []
            for raw in page.changes:
                ordinal += 1
                records.append(self.to_record(stream, raw, ordinal))
            # newWatermark is safe to store after every page; the token resumes mid-read
            watermark = page.new_watermark
            token = page.continuation_token if page.has_more else None
            log.info(
                "b2connect.delta_page", stream=stream, changes=len(records), more=page.has_more
            )
            yield Page(
                records=records,
                cursor={"watermark": watermark, "continuationToken": token},
                has_more=page.has_more,
                total=None if page.remaining is None else before + page.remaining,
            )
            if not page.has_more:
                return

    def fetch(self, stream: str, watermark: Any, token: str | None, batch_size: int) -> FeedPage:
        """One delta response, shape-checked.

        A continuation token B2Connect no longer accepts (400 naming it) is dropped once and
        the read restarts from the watermark, which is stored with every page.
        """
        resp = self._get(stream, watermark, token, batch_size)
        if token and resp.status == 400 and "continuation" in resp.problem.describe().lower():
            log.warning("b2connect.continuation_token_rejected", stream=stream)
            resp = self._get(stream, watermark, None, batch_size)
        if resp.status == 404:
            raise Fatal(
                f"B2Connect has no {stream} delta feed (GET /api/crm/{stream}/delta answered 404: "
                f"{resp.problem.describe()}); this deployment may expose only /api/v1/orders: "
                "set `mode: orders_api` on the connection (orders only)",
                code="ENDPOINT_NOT_AVAILABLE",
            )
        if resp.status == 410:
            raise Fatal(
                f"B2Connect no longer knows watermark {watermark} of the {stream} feed "
                f"({resp.problem.describe()}); run this pipeline once with --full to read the "
                "feed from the start",
                code="WATERMARK_GONE",
            )
        if not resp.ok:
            raise Fatal(
                f"B2Connect refused the {stream} delta request with {resp.status}: "
                f"{resp.problem.describe()}",
                code=resp.problem.code or f"HTTP_{resp.status}",
            )
        return check_page(stream, resp.body, resp.text_error)

    def _get(self, stream: str, watermark: Any, token: str | None, batch_size: int) -> ApiResponse:
        return self.http.request(
            "GET",
            DELTA_ROUTE,
            path={"entity": stream},
            params={"watermark": watermark, "continuationToken": token, "batchSize": batch_size},
        )

    def to_record(self, stream: str, raw: Any, ordinal: int) -> Record:
        """A Record for one change, or an invalid record saying what is wrong with it."""
        reason = change_problem(raw)
        if reason is not None:
            fields = (
                {INVALID_FIELD: reason, **raw}
                if isinstance(raw, dict)
                else {
                    INVALID_FIELD: reason,
                    "raw": raw,
                }
            )
            log.warning("b2connect.invalid_change", stream=stream, ordinal=ordinal)
            return Record(stream, f"invalid:{ordinal}", fields, tenant_id=self.tenant_id)
        data = raw["data"]
        by = raw.get("changedBy")
        return Record(
            stream=stream,
            key=str(data["id"]),
            fields=data,
            updated_at=parse_datetime(raw["changedAt"]),
            deleted=raw["changeType"] == "Deleted",
            tenant_id=self.tenant_id,
            modified_by=str(by) if by else None,
        )


def check_page(stream: str, body: Any, text_error: str | None) -> FeedPage:
    """The page, or :class:`Fatal` naming what does not match the contract."""
    where = f"the {stream} delta feed"
    if text_error is not None:
        raise Fatal(f"{where} returned a malformed page: {text_error}", code="MALFORMED_PAGE")
    problem: str | None = None
    if not isinstance(body, dict):
        problem = f"expected a JSON object, got {type(body).__name__}"
    elif not isinstance(body.get("changes"), list):
        problem = "'changes' is missing or not a list"
    elif not isinstance(body.get("hasMore"), bool):
        problem = "'hasMore' is missing or not a boolean"
    elif body.get("newWatermark") is None or isinstance(body["newWatermark"], bool | dict | list):
        problem = "'newWatermark' is missing or not a string/number"
    elif body.get("continuationToken") is not None and not isinstance(
        body["continuationToken"], str
    ):
        problem = "'continuationToken' is not a string"
    elif body["hasMore"] and not body.get("continuationToken"):
        problem = "'hasMore' is true but there is no 'continuationToken' to follow"
    if problem is not None:
        raise Fatal(f"{where} returned a malformed page: {problem}", code="MALFORMED_PAGE")
    assert isinstance(body, dict)
    return FeedPage(
        changes=body["changes"],
        new_watermark=body["newWatermark"],
        continuation_token=body.get("continuationToken"),
        has_more=body["hasMore"],
        remaining=_count(body.get("remainingCount")),
    )


def _count(value: Any) -> int | None:
    """A non-negative integer count, or None (absent or not one)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def change_problem(raw: Any) -> str | None:
    """Why one change cannot be used, or None if it is fine."""
    if not isinstance(raw, dict):
        return f"change is a {type(raw).__name__}, not an object"
    if raw.get("changeType") not in CHANGE_TYPES:
        return f"unknown changeType {raw.get('changeType')!r}"
    if parse_datetime(raw.get("changedAt")) is None:
        return "changedAt is missing or not an ISO 8601 date-time"
    data = raw.get("data")
    if not isinstance(data, dict):
        return "data is missing or not an object"
    rid = data.get("id")
    if rid is None or isinstance(rid, bool | dict | list) or str(rid) == "":
        return "data.id is missing"
    return None
