"""Server-rendered HTML for the compliance page (no JavaScript; everything escaped)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from html import escape
from typing import Any

from audit.events import ACTIONS
from audit.query import EventView

_STYLE = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;padding:1rem 1.5rem;max-width:1400px;
color:#1d2330;background:#fafbfc}
nav{display:flex;gap:1rem;align-items:center;border-bottom:1px solid #dde2ea;padding-bottom:.5rem}
nav form{display:inline;margin:0 0 0 auto}
h1{font-size:1.3rem;margin:1rem 0 .5rem} h2{font-size:1.1rem;margin:1rem 0 .25rem}
a{color:#1556b3}
form.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin:.75rem 0;padding:.75rem;
background:#fff;border:1px solid #dde2ea;border-radius:6px}
label{display:flex;flex-direction:column;font-size:12px;color:#4a5568;gap:2px}
input,select{font:inherit;padding:3px 6px;border:1px solid #b8c2d0;border-radius:4px;min-width:9rem}
button{font:inherit;padding:4px 12px;border-radius:4px;border:1px solid #1556b3;background:#1556b3;
color:#fff;cursor:pointer}
.summary{display:flex;gap:1rem;align-items:center;flex-wrap:wrap;margin:.5rem 0}
.pager{display:flex;gap:.75rem;align-items:center} .pager .off{color:#9aa5b4}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border-bottom:1px solid #e3e8ef;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef2f7;position:sticky;top:0;font-weight:600}
tbody tr:nth-child(even){background:#f7f9fc} tbody tr:hover{background:#eef5ff}
td.when,.when{font-family:ui-monospace,monospace;white-space:nowrap;font-size:12px}
td.values{max-width:28rem;overflow-wrap:anywhere;font-size:12px;color:#333}
.tag{display:inline-block;padding:0 6px;border-radius:9px;background:#e8eef8;font-size:12px}
.erased{color:#a00} .ok{color:#070} .muted{color:#6b7686}
ol.timeline{list-style:none;margin:0;padding:0 0 0 1.1rem;border-left:2px solid #c9d3e1}
ol.timeline li{position:relative;margin:0 0 .6rem;padding:.4rem .6rem;background:#fff;
border:1px solid #e3e8ef;border-radius:6px}
ol.timeline li::before{content:"";position:absolute;left:-1.55rem;top:.8rem;width:.7rem;
height:.7rem;border-radius:50%;background:#1556b3;border:2px solid #fafbfc}
ol.timeline .head{display:flex;gap:.6rem;flex-wrap:wrap;align-items:baseline}
ol.timeline .values{font-size:12px;color:#333;overflow-wrap:anywhere}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
#: the page's Content-Security-Policy: its one stylesheet (by hash), no script, no framing
CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def page(title: str, body: str, *, nav: bool = True) -> str:
    """A whole HTML document, with the navigation links unless ``nav`` is false."""
    links = (
        "<nav><a href='/'>History</a><a href='/erasures'>Erasure requests</a>"
        "<form method='post' action='/logout'><button type='submit'>Log out</button></form></nav>"
        if nav
        else ""
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} · b2sync audit</title><style>{_STYLE}</style></head><body>"
        f"{links}<h1>{escape(title)}</h1>{body}</body></html>"
    )


def error(message: str) -> str:
    """An error paragraph (the message is escaped)."""
    return f"<p class='erased' id='error'>{escape(message)}</p>"


def login_form(next_path: str, message: str = "") -> str:
    """The POST form that trades the token for a session cookie."""
    return (
        (error(message) if message else "") + "<form method='post' action='/login'>"
        f"<input type='hidden' name='next' value='{escape(next_path, quote=True)}'>"
        "<label>Access token<input type='password' name='token' id='token'"
        " autocomplete='current-password' required></label>"
        "<button type='submit'>Log in</button></form>"
    )


def search_form(params: Mapping[str, str]) -> str:
    """The GET search form, refilled with the current parameters."""

    def field(name: str, label: str, kind: str = "text") -> str:
        value = escape(params.get(name, ""), quote=True)
        return (
            f"<label>{label}<input type='{kind}' name='{name}' id='{name}' value='{value}'></label>"
        )

    current = params.get("action", "")
    options = "".join(
        f"<option value='{escape(a, quote=True)}'{' selected' if a == current else ''}>"
        f"{escape(a or 'any')}</option>"
        for a in ("", *ACTIONS)
    )
    return (
        "<form class='filters' method='get' action='/'>"
        + field("subject", "Person (email or customer id)")
        + field("since", "Since (ISO date/time)")
        + field("until", "Until (ISO date/time)")
        + f"<label>Action<select name='action' id='action'>{options}</select></label>"
        + field("pipeline", "Pipeline")
        + field("system", "System")
        + "<button type='submit'>Search</button> <a href='/'>Clear</a></form>"
    )


@dataclass(frozen=True)
class Paging:
    """Where a page of events sits: 1-based ``page`` of ``pages``, ``total`` events."""

    page: int
    size: int
    total: int
    #: the query string of the current filters (no ``page``), for the links
    query: str

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    def href(self, page: int) -> str:
        return "/?" + "&".join(p for p in (self.query, f"page={page}") if p)


def history(
    views: Sequence[EventView], paging: Paging, csv_href: str, subject: str | None = None
) -> str:
    """One page of events: a summary with the pager and CSV link, then one row per event,
    or a person's timeline when ``subject`` is searched for."""
    first = (paging.page - 1) * paging.size + 1 if views else 0
    last = first + len(views) - 1 if views else 0
    shown = f"events {first:,}–{last:,} of {paging.total:,}" if views else "no events"
    summary = (
        f"<div class='summary'><span id='count'>{shown}</span>{_pager(paging)}"
        f"<a id='csv' href='{escape(csv_href, quote=True)}'>Download CSV (all matches)</a></div>"
    )
    body = _timeline(views) if subject else _table(views)
    return summary + body + (f"<div class='summary'>{_pager(paging)}</div>" if views else "")


def _pager(paging: Paging) -> str:
    prev = (
        f"<a id='prev' rel='prev' href='{escape(paging.href(paging.page - 1), quote=True)}'>"
        "← newer</a>"
        if paging.page > 1
        else "<span class='off'>← newer</span>"
    )
    nxt = (
        f"<a id='next' rel='next' href='{escape(paging.href(paging.page + 1), quote=True)}'>"
        "older →</a>"
        if paging.page < paging.pages
        else "<span class='off'>older →</span>"
    )
    return (
        f"<span class='pager'>{prev}<span>page {paging.page} of {paging.pages}</span>{nxt}</span>"
    )


_COLUMNS = (
    "When (UTC)", "Action", "Outcome", "Actor", "Systems", "Record", "Person", "Fields",
    "Changed by", "Values",
)  # fmt: skip


def _table(views: Sequence[EventView]) -> str:
    rows = "".join(
        "<tr>"
        f"<td class='when'>{_when(v)}</td><td><span class='tag'>{escape(v.action)}</span></td>"
        f"<td>{escape(v.outcome)}</td><td>{escape(v.actor)}</td>"
        f"<td>{escape(v.source_system)} → {escape(v.target_system)}</td>"
        f"<td>{escape(v.stream)}/{_maybe_erased(v.record_key)}</td><td>{_person(v)}</td>"
        f"<td>{escape(', '.join(v.changed_fields))}</td><td>{escape(v.changed_by)}</td>"
        f"<td class='values'>{_values(v.values)}</td></tr>"
        for v in views
    )
    head = "".join(f"<th>{h}</th>" for h in _COLUMNS)
    return f"<table id='history'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _timeline(views: Sequence[EventView]) -> str:
    items = []
    for v in views:
        by = f" · changed by {escape(v.changed_by)}" if v.changed_by else ""
        fields = escape(", ".join(v.changed_fields))
        items.append(
            "<li><div class='head'>"
            f"<span class='when'>{_when(v)}</span><span class='tag'>{escape(v.action)}</span>"
            f"<span>{escape(v.outcome)}</span>"
            f"<span>{escape(v.source_system)} → {escape(v.target_system)}</span>"
            f"<span class='muted'>{escape(v.actor)}{by}</span></div>"
            f"<div>{escape(v.stream)}/{_maybe_erased(v.record_key)}"
            f"{' · ' + fields if fields else ''}</div>"
            f"<div class='values'>{_values(v.values)}</div></li>"
        )
    return f"<ol class='timeline' id='timeline'>{''.join(items)}</ol>"


def _when(view: EventView) -> str:
    return escape(view.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))


def _person(view: EventView) -> str:
    return "" if view.subject is None else _maybe_erased(str(view.subject))


def erasure_table(rows: Iterable[Mapping[str, Any]]) -> str:
    """Erasure requests with their status per system."""
    out = []
    for r in rows:
        systems = r.get("system_status") or {}
        per_system = "<br>".join(
            f"{escape(str(name))}: {escape(_status(state))}"
            for name, state in sorted(systems.items())
        )
        due = r["due_at"].isoformat() if r.get("due_at") else ""
        out.append(
            f"<tr><td>{escape(str(r['id']))}</td><td>{escape(str(r['tenant_id']))}</td>"
            f"<td>{escape(str(r['subject_ref']))}</td><td>{escape(r['requested_at'].isoformat())}</td>"
            f"<td>{escape(due)}</td><td class='status'>{escape(str(r['status']))}</td>"
            f"<td>{per_system or '<span class=muted>none yet</span>'}</td>"
            f"<td>{escape(str(r.get('last_error') or ''))}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Id",
            "Tenant",
            "Subject ref",
            "Requested",
            "Due",
            "Status",
            "Per system",
            "Last error",
        )
    )
    return (
        f"<table id='erasures'><thead><tr>{head}</tr></thead><tbody>{''.join(out)}</tbody></table>"
    )


def _status(state: Any) -> str:
    if isinstance(state, Mapping):
        status = str(state.get("status", ""))
        detail = state.get("detail") or state.get("error")
        text = f"{status} ({detail})" if detail else status
        if state.get("next_attempt_at"):
            text += f", next attempt {str(state['next_attempt_at'])[:19]}"
        return text
    return str(state)


def _maybe_erased(text: str) -> str:
    return "<span class='erased'>[erased]</span>" if text == "[erased]" else escape(text)


def _values(values: dict[str, Any] | str | None) -> str:
    """Each changed field's new value (``old → new`` when the old one is known), Unicode as
    text, long values cut to :data:`VALUE_CHARS` (the CSV and JSON exports hold them whole)."""
    if values is None:
        return ""
    if isinstance(values, str):
        return _maybe_erased(values)
    parts = []
    for name, change in values.items():
        if isinstance(change, Mapping) and set(change) <= {"old", "new"}:
            new = _short(change.get("new"))
            text = new if change.get("old") is None else f"{_short(change['old'])} → {new}"
        else:
            text = _short(change)
        parts.append(f"<b>{escape(name)}</b>: {escape(text)}")
    return "<br>".join(parts)


#: characters of one value shown on the page
VALUE_CHARS = 160


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"
