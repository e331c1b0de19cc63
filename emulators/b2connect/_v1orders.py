"""The real Orders service read API: ``GET /api/v1/orders`` and ``GET /api/v1/orders/{id}``.

Offset paging (page, pageSize) with a total count, ``fromDate``/``toDate`` on ``createdAt``,
newest first, camelCase JSON with null values omitted, like ASP.NET's serializer settings.
"""

from __future__ import annotations

import math
from typing import Any

from emulators._base import EmuRequest, HttpError
from emulators.b2connect._common import iso, parse_iso
from emulators.b2connect._orders import ORDER_FIELDS
from emulators.b2connect._store import Row, Store

#: the real ``/api/v1/orders`` has no ``source`` (marketing channel): the contract adds it
V1_FIELDS = tuple(f for f in ORDER_FIELDS if f not in ("statusHistory", "returns", "source"))
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def v1_order(order: dict[str, Any]) -> dict[str, Any]:
    """The Orders-service entity: known fields only, nulls omitted, lines included."""
    out = {k: order[k] for k in V1_FIELDS if order.get(k) is not None}
    out["items"] = [{k: v for k, v in item.items() if v is not None} for item in order["items"]]
    return out


def _page_param(req: EmuRequest, name: str, default: int, high: int | None) -> int:
    raw = req.q(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        value = 0
    if value < 1 or (high is not None and value > high):
        bound = f" between 1 and {high}" if high else " of at least 1"
        raise _invalid(name, f"The value '{raw}' is not valid for {name}; use an integer{bound}.")
    return value


def _date_param(req: EmuRequest, name: str) -> str | None:
    """The parameter as a stored-format timestamp (fixed width, so strings compare as times)."""
    raw = req.q(name)
    if raw in (None, ""):
        return None
    try:
        return iso(parse_iso(str(raw)))
    except ValueError as exc:
        raise _invalid(name, f"The value '{raw}' is not valid for {name}.") from exc


def _invalid(name: str, message: str) -> HttpError:
    return HttpError(
        400, "VALIDATION", "One or more validation errors occurred.", errors={name: [message]}
    )


def _matches(row: Row, req: EmuRequest, since: str | None, until: str | None) -> bool:
    data = row.data
    for param in ("status", "paymentStatus", "customerId"):
        wanted = req.q(param)
        if wanted and str(data.get(param)) != wanted:
            return False
    created = data["createdAt"]
    return (since is None or created >= since) and (until is None or created <= until)


def list_orders(store: Store, tenant: str, req: EmuRequest) -> dict[str, Any]:
    """One page of the tenant's orders, newest first."""
    page = _page_param(req, "page", 1, None)
    size = _page_param(req, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    since, until = _date_param(req, "fromDate"), _date_param(req, "toDate")
    rows = [r for r in store.live("orders", tenant) if _matches(r, req, since, until)]
    rows.sort(key=lambda r: (r.data["createdAt"], r.id), reverse=True)
    start = (page - 1) * size
    return {
        "items": [v1_order(r.data) for r in rows[start : start + size]],
        "totalCount": len(rows),
        "page": page,
        "pageSize": size,
        "totalPages": math.ceil(len(rows) / size),
    }
