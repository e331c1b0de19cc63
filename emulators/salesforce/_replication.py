"""getUpdated / getDeleted: ``sobjects/{S}/updated/`` and ``deleted/`` over a time window
(last 30 days for updates, 15 for deletes; seconds are truncated)."""

from __future__ import annotations

from starlette.responses import Response

from emulators._base import EmuRequest, HttpError, json_response

from ._common import API, api_version, sobject_or_404
from ._host import SalesforceHost
from ._values import format_stamp, parse_datetime

__all__ = ["MAX_IDS", "register"]

MAX_IDS = 600_000
_DAY_S = 86_400


def _minute(epoch: float) -> float:
    return epoch - epoch % 60


def _param(req: EmuRequest, name: str) -> float:
    raw = req.q(name)
    if not raw:
        raise HttpError(400, "MISSING_ARGUMENT", f"Missing required parameter: {name}")
    try:
        moment = parse_datetime(raw.replace(" ", "+"))
    except ValueError as err:
        raise HttpError(
            400, "INVALID_REPLICATION_DATE", f"Unable to parse {name} date: {raw}"
        ) from err
    return _minute(moment.timestamp())


def _window(req: EmuRequest, now: float, days: int) -> tuple[float, float]:
    start, end = _param(req, "start"), _param(req, "end")
    if start < _minute(now) - days * _DAY_S:
        raise HttpError(
            400,
            "INVALID_REPLICATION_DATE",
            f"startDate cannot be more than {days} days ago",
        )
    if end <= start:
        raise HttpError(400, "INVALID_REPLICATION_DATE", "EndDate must be after StartDate")
    return start, min(end, _minute(now))


def _epoch(stamp: str) -> float:
    return parse_datetime(stamp).timestamp()


def register(emu: SalesforceHost) -> None:
    store = emu.store

    def updated(req: EmuRequest) -> Response:
        api_version(req)
        obj = sobject_or_404(store.schema, req.path_params["sobject"])
        start, end = _window(req, store.clock(), 30)
        ids = [r["Id"] for r in store.live(obj.name) if start <= _epoch(r["SystemModstamp"]) < end]
        if len(ids) > MAX_IDS:
            raise HttpError(400, "EXCEEDED_ID_LIMIT", "too many ids; narrow the date range")
        return json_response({"ids": ids, "latestDateCovered": format_stamp(end)})

    def deleted(req: EmuRequest) -> Response:
        api_version(req)
        obj = sobject_or_404(store.schema, req.path_params["sobject"])
        start, end = _window(req, store.clock(), 15)
        rows = [
            {"id": r["Id"], "deletedDate": format_stamp(store.deleted_at[r["Id"]])}
            for r in store.every(obj.name)
            if r["IsDeleted"] and start <= store.deleted_at[r["Id"]] < end
        ]
        if len(rows) > MAX_IDS:
            raise HttpError(400, "EXCEEDED_ID_LIMIT", "too many ids; narrow the date range")
        earliest = store.physically_deleted.get(obj.name, store.created_at)
        return json_response(
            {
                "deletedRecords": rows,
                "earliestDateAvailable": format_stamp(_minute(earliest)),
                "latestDateCovered": format_stamp(end),
            }
        )

    path = f"{API}/sobjects/{{sobject}}"
    for slash in ("", "/"):
        emu.route("GET", f"{path}/updated{slash}", updated, name=f"{path}/updated")
        emu.route("GET", f"{path}/deleted{slash}", deleted, name=f"{path}/deleted")
