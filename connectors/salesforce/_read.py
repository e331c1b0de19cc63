"""Reading: changes since a cursor (``queryAll`` on SystemModstamp) and identity lookups.

Change reads run ``SELECT ... FROM S WHERE SystemModstamp >= :since AND SystemModstamp <=
:start ORDER BY SystemModstamp, Id`` through ``queryAll`` so recycled records come back with
``IsDeleted = true``. ``since`` is the cursor's timestamp minus an overlap margin (commits can
become visible after their stamp), floored to the second; ``start`` is the read's start time
(to the millisecond), so a page boundary never races with writes made during the read. The cursor is
``{"ts": last SystemModstamp seen, "ids": [ids stamped exactly ts]}``: records at ``ts``
already delivered are dropped, records inside the overlap margin before ``ts`` are delivered
again (the engine drops them by key and timestamp, and its field hashes recognise them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from simple_salesforce.api import Salesforce

from connectors.errors import Fatal
from connectors.records import Page, Record
from connectors.salesforce._api import Api
from connectors.salesforce._values import iso_utc, parse_timestamp
from connectors.salesforce.soql import in_clauses, select, soql_identifier, soql_quote

__all__ = [
    "SYSTEM_FIELDS",
    "all_rows",
    "change_query",
    "field_value",
    "lookup",
    "members",
    "read_changes",
]

#: Fields every change read selects, whatever else is asked for.
SYSTEM_FIELDS = ("Id", "SystemModstamp", "IsDeleted", "LastModifiedById")
#: Keep each lookup query's IN list under this many characters (query text limit ~100k,
#: URL limits are lower; 9k leaves room for the rest of the statement).
LOOKUP_CHARS = 9000


def _whole_seconds(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=0)


def _cursor_state(cursor: Mapping[str, Any] | None) -> tuple[dt.datetime | None, set[str]]:
    if not cursor or not cursor.get("ts"):
        return None, set()
    return parse_timestamp(str(cursor["ts"])), {str(i) for i in cursor.get("ids", [])}


def change_query(
    sobject: str,
    fields: Sequence[str],
    since: dt.datetime | None,
    start: dt.datetime,
) -> str:
    """The SOQL of one change read (every value through :func:`soql_quote`)."""
    names = list(dict.fromkeys([*SYSTEM_FIELDS, *fields]))
    where = [f"SystemModstamp <= {soql_quote(start)}"]
    if since is not None:
        where.insert(0, f"SystemModstamp >= {soql_quote(_whole_seconds(since))}")
    return f"{select(names, sobject)} WHERE {' AND '.join(where)} ORDER BY SystemModstamp, Id"


def _record(sobject: str, raw: Mapping[str, Any], stamp: dt.datetime) -> Record:
    fields = {k: v for k, v in raw.items() if k != "attributes"}
    modified_by = raw.get("LastModifiedById")
    return Record(
        stream=sobject,
        key=str(raw["Id"]),
        fields=fields,
        updated_at=stamp,
        deleted=bool(raw.get("IsDeleted")),
        modified_by=str(modified_by) if modified_by else None,
    )


def read_changes(
    api: Api,
    sobject: str,
    fields: Sequence[str],
    cursor: Mapping[str, Any] | None,
    *,
    overlap: dt.timedelta,
    clock: Callable[[], dt.datetime],
) -> Iterator[Page]:
    """Pages of changed (and deleted) records since ``cursor``, each with its cursor."""
    start = clock()
    prev_ts, prev_ids = _cursor_state(cursor)
    since = prev_ts - overlap if prev_ts is not None else None
    soql = change_query(sobject, fields, since, start)
    result = api.call(lambda sf: sf.query(soql, include_deleted=True))
    ts, ids = prev_ts, set(prev_ids)
    size = result.get("totalSize")
    total = size if isinstance(size, int) and not isinstance(size, bool) else None
    while True:
        records: list[Record] = []
        for raw in result.get("records", []):
            stamp = parse_timestamp(str(raw["SystemModstamp"]))
            rid = str(raw["Id"])
            if stamp == prev_ts and rid in prev_ids:
                continue
            records.append(_record(sobject, raw, stamp))
            if ts is None or stamp > ts:
                ts, ids = stamp, {rid}
            elif stamp == ts:
                ids.add(rid)
        done = bool(result.get("done", True))
        next_cursor = {"ts": iso_utc(ts), "ids": sorted(ids)} if ts is not None else None
        yield Page(records=records, cursor=next_cursor, has_more=not done, total=total)
        if done:
            return
        result = api.call(_next_page(str(result["nextRecordsUrl"])))


def all_rows(soql: str) -> Callable[[Salesforce], list[dict[str, Any]]]:
    """Every row of ``soql`` (following ``nextRecordsUrl``), as a call for :class:`Api`."""
    return lambda sf: list(sf.query_all_iter(soql))


def _next_page(url: str) -> Callable[[Salesforce], Any]:
    return lambda sf: sf.query_more(url, identifier_is_url=True)


def field_value(row: Mapping[str, Any], field: str) -> Any:
    """``row[field]`` matching the name case-insensitively, as Salesforce does."""
    if field in row:
        return row[field]
    lowered = field.lower()
    return next((v for k, v in row.items() if k.lower() == lowered), None)


def _folded(value: str) -> str:
    return value.strip().lower()


def _exact(value: str) -> str:
    return value


def _is_email(field: str) -> bool:
    return "email" in field.lower()


def lookup(api: Api, sobject: str, field: str, values: Sequence[str]) -> dict[str, list[str]]:
    """Ids of every record whose ``field`` equals each value (all candidates).

    Emails compare case-insensitively and come back keyed lower-cased; other fields match
    exactly (SOQL compares text case-insensitively, so results are filtered here).
    """
    soql_identifier(field)
    fold = _is_email(field)
    norm = _folded if fold else _exact
    wanted = list(dict.fromkeys(norm(v) for v in values if v is not None and v != ""))
    out: dict[str, list[str]] = {value: [] for value in wanted}
    head = select(["Id", field], sobject)
    for _chunk, condition in in_clauses(field, wanted, max_chars=LOOKUP_CHARS):
        soql = f"{head} WHERE {condition}"
        rows = api.call(all_rows(soql))
        for row in rows:
            found = field_value(row, field)
            if isinstance(found, str) and norm(found) in out:
                out[norm(found)].append(str(row["Id"]))
    return out


#: the lookup from a contact-like sObject to its company
PARENT_FIELDS = {("Account", "Contact"): "AccountId"}


def members(
    api: Api,
    company_object: str,
    company_ids: Sequence[str],
    contact_object: str,
    fields: Sequence[str],
) -> dict[str, list[Record]]:
    """Each company's live contacts with ``fields`` (company id -> records), one SOQL query
    per chunk of ids."""
    parent = PARENT_FIELDS.get((company_object, contact_object))
    if parent is None:
        raise Fatal(
            f"Salesforce: no known lookup from {contact_object} to {company_object}",
            code="NO_PARENT_FIELD",
        )
    names = list(dict.fromkeys([*SYSTEM_FIELDS, parent, *fields]))
    out: dict[str, list[Record]] = {cid: [] for cid in company_ids}
    wanted = sorted(set(company_ids))
    for _chunk, condition in in_clauses(parent, wanted, max_chars=LOOKUP_CHARS):
        soql = f"{select(names, contact_object)} WHERE {condition}"
        for raw in api.call(all_rows(soql)):
            stamp = parse_timestamp(str(raw["SystemModstamp"]))
            out.setdefault(str(raw.get(parent)), []).append(_record(contact_object, raw, stamp))
    return out
