"""``mode: orders_api``: change detection on the real ``GET /api/v1/orders``.

That endpoint has no updated-since filter: it pages newest-first by ``createdAt`` and
``fromDate`` filters on ``createdAt``. So each run rescans every order created since
``scan_from - overlap`` (first run, or a ``--full`` run with no cursor: every order) and
diffs ``updatedAt`` against the cursor's memory ``seen = {order id: updatedAt}``; only new
or changed orders are emitted.

Cursor: ``{"scan_from": <newest createdAt seen>, "seen": {...}}``. ``seen`` keeps only the
orders the *next* rescan will read again (created at or after the new ``scan_from -
overlap``), so it stays small.

Trade-off: an order created before that window that changes later (a return weeks after
delivery) is not noticed by incremental runs; only a ``--full`` rescan catches it. Widen
``overlap`` to cover your longest order lifecycle if that matters more than API calls.

Pages carry the *old* cursor until the last one: the cursor advances only when the whole
rescan has finished, so a crash mid-rescan re-reads it (safe: writes are idempotent). Orders
seen twice in one rescan (offset paging while new orders arrive shifts rows down) are
emitted once; none are skipped, since orders are never removed from the listing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from connectors.b2connect._delta import INVALID_FIELD, parse_datetime
from connectors.b2connect._http import B2ConnectHttp
from connectors.errors import Fatal
from connectors.records import Page, Record

__all__ = ["ORDERS_ROUTE", "OrdersRescan", "iso_z"]

log = structlog.get_logger(__name__)

ORDERS_ROUTE = "/api/v1/orders"


def iso_z(dt: datetime) -> str:
    """RFC 3339 UTC with microseconds and ``Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Scan:
    """What one rescan knows: the previous memory, the newest order, what it emitted."""

    def __init__(self, cursor: Mapping[str, Any], overlap: timedelta) -> None:
        self.before: Mapping[str, Any] = cursor.get("seen") or {}
        self.newest = parse_datetime(cursor.get("scan_from"))
        self.overlap = overlap
        self.keep_from: datetime | None = None  # the next window's start, set by the 1st order
        self.seen: dict[str, str] = {}
        self.emitted: set[str] = set()
        self.invalid = 0

    def is_new(self, oid: str, created: datetime, updated: str) -> bool:
        """Remember the order if the next rescan will see it; True if new or changed."""
        if self.newest is None or created > self.newest:
            self.newest = created
        if self.keep_from is None:
            self.keep_from = self.newest - self.overlap
        if created >= self.keep_from:
            self.seen[oid] = updated
        if oid in self.emitted or self.before.get(oid) == updated:
            return False
        self.emitted.add(oid)
        return True

    def cursor(self) -> dict[str, Any]:
        """The cursor after a finished rescan."""
        return {"scan_from": iso_z(self.newest) if self.newest else None, "seen": self.seen}


class OrdersRescan:
    """One rescan of ``/api/v1/orders`` from a cursor, yielding pages of new/changed orders."""

    def __init__(
        self, http: B2ConnectHttp, *, page_size: int, overlap: timedelta, tenant_id: str
    ) -> None:
        self.http = http
        self.page_size = page_size
        self.overlap = overlap
        self.tenant_id = tenant_id

    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        old_cursor = dict(cursor) if cursor else None
        scan = _Scan(cursor or {}, self.overlap)
        from_date = scan.newest - self.overlap if scan.newest else None
        page_no = 1
        while True:
            body = self.fetch(page_no, from_date)
            records = [r for raw in body["items"] if (r := self._take(scan, raw)) is not None]
            if page_no >= body["totalPages"] or not body["items"]:
                log.info("b2connect.orders_rescan_done", pages=page_no, emitted=len(scan.emitted))
                yield Page(records=records, cursor=scan.cursor(), has_more=False)
                return
            if records:
                yield Page(records=records, cursor=old_cursor, has_more=True)
            page_no += 1

    def _take(self, scan: _Scan, raw: Any) -> Record | None:
        """One listed order as a Record; None when unchanged; invalid:<n> when malformed."""
        fields = raw if isinstance(raw, dict) else {}
        created = parse_datetime(fields.get("createdAt"))
        updated, oid = fields.get("updatedAt"), fields.get("id")
        if created is None or not isinstance(updated, str) or not oid:
            scan.invalid += 1
            return self._invalid(raw, scan.invalid)
        if not scan.is_new(str(oid), created, updated):
            return None
        return Record(
            stream="orders",
            key=str(oid),
            fields=fields,
            updated_at=parse_datetime(updated),
            tenant_id=self.tenant_id,
        )

    def fetch(
        self, page_no: int, from_date: datetime | None, page_size: int | None = None
    ) -> dict[str, Any]:
        """One page of the listing, shape-checked."""
        resp = self.http.request(
            "GET",
            ORDERS_ROUTE,
            params={
                "page": page_no,
                "pageSize": page_size or self.page_size,
                "fromDate": iso_z(from_date) if from_date else None,
            },
        )
        if resp.status == 404:
            raise Fatal(
                "B2Connect has no orders listing (GET /api/v1/orders answered 404: "
                f"{resp.problem.describe()}); check the connection's url (the Orders service "
                "route is /api/v1/orders, the Store gateway's /api/orders is not it)",
                code="ENDPOINT_NOT_AVAILABLE",
            )
        if not resp.ok:
            raise Fatal(
                f"B2Connect refused the orders listing with {resp.status}: "
                f"{resp.problem.describe()}",
                code=resp.problem.code or f"HTTP_{resp.status}",
            )
        return check_listing(resp.body, resp.text_error)

    def _invalid(self, raw: Any, n: int) -> Record:
        reason = "order has no id, createdAt or updatedAt"
        fields = (
            {INVALID_FIELD: reason, **raw}
            if isinstance(raw, dict)
            else {
                INVALID_FIELD: reason,
                "raw": raw,
            }
        )
        log.warning("b2connect.invalid_order", ordinal=n)
        return Record("orders", f"invalid:{n}", fields, tenant_id=self.tenant_id)


def check_listing(body: Any, text_error: str | None) -> dict[str, Any]:
    """The ``{items, totalCount, page, pageSize, totalPages}`` envelope, or :class:`Fatal`."""
    problem: str | None = text_error
    if problem is None and not isinstance(body, dict):
        problem = f"expected a JSON object, got {type(body).__name__}"
    elif problem is None and not isinstance(body.get("items"), list):
        problem = "'items' is missing or not a list"
    elif problem is None and (
        not isinstance(body.get("totalPages"), int) or isinstance(body.get("totalPages"), bool)
    ):
        problem = "'totalPages' is missing or not an integer"
    if problem is not None:
        raise Fatal(
            f"the orders listing returned a malformed page: {problem}", code="MALFORMED_PAGE"
        )
    assert isinstance(body, dict)
    return body
