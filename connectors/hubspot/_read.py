"""Change reads: search on the last-modified property, ascending, with a de-duplicating cursor.

The cursor is ``{"ts": epoch_ms, "ids": [ids seen at ts], "recent": {id: ts},
"archived": {"ts": epoch_ms, "ids": [...]}}``. Each read starts ``overlap`` before ``ts``
and drops records already seen with the same timestamp. HubSpot documents CRM search as
eventually consistent: a created or updated object appears in search results only some
seconds after the write ("Search the CRM", https://developers.hubspot.com/docs/api/crm/search),
and not every write takes equally long, so an edit can surface after a later edit already
moved the mark. The overlap (``search_overlap_s``, default 60 s, an order of magnitude above
that lag) re-reads such late arrivals; the ``recent`` ids keep the re-read from repeating.
Pages are fetched by key (``GTE`` the last timestamp seen) rather than by offset, so records
that change while a read pages cannot shift others out of view, and the 10,000-result paging
ceiling is only met when more than 10,000 records share one timestamp. A read never goes past
the moment it started: later changes belong to the next read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from hubspot.crm.objects.models import Filter, FilterGroup, PublicObjectSearchRequest

from connectors.errors import Fatal
from connectors.records import Page, Record

from ._api import HubSpotApi
from ._errors import HubSpotApiError
from ._types import BATCH_LIMIT, SEARCH_PAGE_LIMIT, SEARCH_RESULT_CAP, modified_property
from ._values import from_epoch_ms, parse_ts

__all__ = ["DEFAULT_OVERLAP_S", "LIST", "SEARCH", "ChangeReader", "next_after", "search_fail"]

log = structlog.get_logger(__name__)

SEARCH = "POST /crm/v3/objects/{object_type}/search"
LIST = "GET /crm/v3/objects/{object_type}"
#: how far before the mark a read starts (search index lag); see the module docstring
DEFAULT_OVERLAP_S = 60.0
#: most recently seen ids a cursor keeps for de-duplication inside the overlap
_RECENT_CAP = 5000


def search_fail(stream: str, err: HubSpotApiError) -> Fatal:
    """A search HubSpot refuses (bad property, unknown object) cannot be retried away."""
    return Fatal(
        f"HubSpot refused a search on {stream} ({err.status}: {err.body.message}); check the "
        "object type and property names",
        code=err.body.category or str(err.status),
    )


@dataclass
class _Mark:
    """A high-water mark: newest timestamp and the ids seen within the overlap below it."""

    ts: int | None = None
    recent: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: Any) -> _Mark:
        if not isinstance(raw, Mapping) or raw.get("ts") is None:
            return cls()
        ts = int(raw["ts"])
        recent = {str(k): int(v) for k, v in (raw.get("recent") or {}).items()}
        recent.update({str(i): ts for i in raw.get("ids") or []})
        return cls(ts, recent)

    def seen(self, rid: str, ts: int) -> bool:
        return self.recent.get(rid) == ts

    def add(self, rid: str, ts: int) -> None:
        if self.ts is None or ts > self.ts:
            self.ts = ts
        self.recent[rid] = ts
        if len(self.recent) > 4 * _RECENT_CAP:
            self.recent = self._kept(None)

    def _kept(self, overlap_ms: int | None) -> dict[str, int]:
        """The newest ids no older than ``overlap_ms`` below the mark, at most the cap."""
        if self.ts is None:
            return {}
        floor = None if overlap_ms is None else self.ts - overlap_ms
        kept = sorted(
            ((v, k) for k, v in self.recent.items() if floor is None or v >= floor), reverse=True
        )
        return {k: v for v, k in kept[:_RECENT_CAP]}

    def dump(self, overlap_ms: int) -> dict[str, Any]:
        kept = self._kept(overlap_ms)
        at_ts = sorted(k for k, v in kept.items() if v == self.ts)
        below = {k: v for k, v in sorted(kept.items()) if v != self.ts}
        return {"ts": self.ts, "ids": at_ts, "recent": below}


class ChangeReader:
    """Reads one object type's changes page by page."""

    def __init__(
        self,
        api: HubSpotApi,
        *,
        clock: Callable[[], float],
        overlap_s: float = DEFAULT_OVERLAP_S,
        read_deletes: bool = True,
    ) -> None:
        self.api = api
        self.clock = clock
        self.overlap_ms = round(overlap_s * 1000)
        self.read_deletes = read_deletes

    def read(
        self, stream: str, cursor: Mapping[str, Any] | None, properties: Sequence[str]
    ) -> Iterator[Page]:
        """Pages of changed (then archived) records, each with the cursor to resume after it."""
        cap = round(self.clock() * 1000)
        mod = modified_property(stream)
        wanted = sorted({*properties, mod})
        mark = _Mark.load(cursor)
        archived = _Mark.load(cursor.get("archived")) if cursor else _Mark(cap)
        deletes = self.read_deletes and cursor is not None
        low = None if mark.ts is None else mark.ts - self.overlap_ms
        after: str | None = None
        finished = False
        while True:
            data = self._search(stream, mod, wanted, low, cap, after)
            rows = list(data.get("results") or [])
            records: list[Record] = []
            last_ts = low
            for row in rows:
                ts = _row_ts(row, mod)
                last_ts = ts if last_ts is None else max(last_ts, ts)
                if not mark.seen(str(row["id"]), ts):
                    mark.add(str(row["id"]), ts)
                    records.append(_record(stream, row, ts))
            nxt = next_after(data)
            more = nxt is not None and len(rows) > 0
            if more and last_ts is not None and (low is None or last_ts > low):
                low, after = last_ts, None  # page by key: restart at the last timestamp seen
            elif more:
                after = str(nxt)  # a page of ties: page by offset inside this one timestamp
                if int(after) + SEARCH_PAGE_LIMIT > SEARCH_RESULT_CAP:
                    raise Fatal(
                        f"more than {SEARCH_RESULT_CAP} HubSpot {stream} share one modification "
                        "time; b2sync cannot page past them with search",
                        code="SEARCH_TIES",
                    )
            if records:
                finished = not more and not deletes
                yield Page(records, self._cursor(mark, archived), has_more=not finished)
            if not more:
                break
        if deletes:
            deleted = self._archived(stream, wanted, archived, cap)
            yield Page(deleted, self._cursor(mark, archived), has_more=False)
        elif not finished:
            yield Page([], self._cursor(mark, archived), has_more=False)

    def _cursor(self, mark: _Mark, archived: _Mark) -> dict[str, Any]:
        state = mark.dump(self.overlap_ms)
        state["archived"] = archived.dump(self.overlap_ms)
        return state

    def _search(
        self, stream: str, mod: str, wanted: list[str], low: int | None, cap: int, after: str | None
    ) -> dict[str, Any]:
        filters = [Filter(property_name=mod, operator="LTE", value=str(cap))]
        if low is not None:
            filters.insert(0, Filter(property_name=mod, operator="GTE", value=str(low)))
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)],
            sorts=[{"propertyName": mod, "direction": "ASCENDING"}],
            properties=wanted,
            limit=SEARCH_PAGE_LIMIT,
            after=after,
        )
        try:
            data, _ = self.api.call_json(
                SEARCH, self.api.search.do_search_with_http_info, stream, request, search=True
            )
        except HubSpotApiError as err:
            raise search_fail(stream, err) from err
        return data

    def _archived(self, stream: str, wanted: list[str], mark: _Mark, cap: int) -> list[Record]:
        """Records archived since the archive mark (HubSpot can only list all archived ones)."""
        found: list[tuple[int, dict[str, Any]]] = []
        after: str | None = None
        while True:
            try:
                data, _ = self.api.call_json(
                    LIST,
                    self.api.basic.get_page_with_http_info,
                    stream,
                    limit=BATCH_LIMIT,
                    after=after,
                    properties=wanted,
                    archived=True,
                )
            except HubSpotApiError as err:
                raise search_fail(stream, err) from err
            for row in data.get("results") or []:
                ts = parse_ts(row.get("archivedAt"))
                if ts is None:
                    ts = _row_ts(row, modified_property(stream))
                old = mark.ts is not None and (ts < mark.ts or mark.seen(str(row["id"]), ts))
                if ts <= cap and not old:
                    found.append((ts, row))
            after = next_after(data)
            if after is None:
                break
        records = []
        for ts, row in sorted(found, key=lambda pair: (pair[0], str(pair[1]["id"]))):
            mark.add(str(row["id"]), ts)
            records.append(_record(stream, row, ts, deleted=True))
        mark.ts = cap if mark.ts is None else max(mark.ts, cap)
        log.info("hubspot.archived_read", object=stream, records=len(records))
        return records


def next_after(data: Mapping[str, Any]) -> str | None:
    """The ``paging.next.after`` token of a JSON page, None on the last page."""
    after = ((data.get("paging") or {}).get("next") or {}).get("after")
    return None if after is None else str(after)


def _row_ts(row: Mapping[str, Any], mod: str) -> int:
    ts = parse_ts((row.get("properties") or {}).get(mod))
    if ts is None:
        ts = parse_ts(row.get("updatedAt"))
    return ts if ts is not None else 0


def _record(stream: str, row: Mapping[str, Any], ts: int, *, deleted: bool = False) -> Record:
    return Record(
        stream=stream,
        key=str(row["id"]),
        fields=dict(row.get("properties") or {}),
        updated_at=from_epoch_ms(ts),
        deleted=deleted,
        modified_by=None,
    )
