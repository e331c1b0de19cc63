"""Server-rendered HTML for the compliance page (no JavaScript; everything escaped)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from audit.events import ACTIONS
from audit.query import EventView

_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}
nav a{margin-right:1rem} h1{font-size:1.3rem}
form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:1rem 0}
label{display:flex;flex-direction:column;font-size:12px}
table{border-collapse:collapse;width:100%} th,td{border:1px solid #ccc;padding:4px 6px;
text-align:left;vertical-align:top} th{background:#f0f0f0} .erased{color:#a00}
.ok{color:#070} .muted{color:#777}
nav form{display:inline;margin:0}
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
        f"{escape(a)}</option>"
        for a in ("", *ACTIONS)
    )
    return (
        "<form method='get' action='/'>"
        + field("subject", "Person (email or customer id)")
        + field("since", "Since (ISO date/time)")
        + field("until", "Until (ISO date/time)")
        + f"<label>Action<select name='action' id='action'>{options}</select></label>"
        + field("pipeline", "Pipeline")
        + field("system", "System")
        + "<button type='submit'>Search</button></form>"
    )


def history_table(views: Iterable[EventView], csv_href: str) -> str:
    """The events as a table, with the CSV download link."""
    rows = []
    for v in views:
        values = _values(v.values)
        subject = "" if v.subject is None else _maybe_erased(str(v.subject))
        rows.append(
            "<tr>"
            f"<td>{escape(v.occurred_at.isoformat())}</td><td>{escape(v.tenant_id)}#{v.seq}</td>"
            f"<td>{escape(v.action)}</td><td>{escape(v.outcome)}</td><td>{escape(v.actor)}</td>"
            f"<td>{escape(v.source_system)} → {escape(v.target_system)}</td>"
            f"<td>{escape(v.stream)}</td><td>{_maybe_erased(v.record_key)}</td><td>{subject}</td>"
            f"<td>{escape(', '.join(v.changed_fields))}</td><td>{values}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "When",
            "Event",
            "Action",
            "Outcome",
            "Actor",
            "Systems",
            "Stream",
            "Record",
            "Person",
            "Fields",
            "Values",
        )
    )
    count = len(rows)
    return (
        f"<p>{count} event{'s' if count != 1 else ''} · "
        f"<a id='csv' href='{escape(csv_href, quote=True)}'>Download CSV</a></p>"
        f"<table id='history'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


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
    if values is None:
        return ""
    if isinstance(values, str):
        return _maybe_erased(values)
    parts = [
        f"{escape(name)}: {escape(json.dumps(change.get('old'), default=str))} → "
        f"{escape(json.dumps(change.get('new'), default=str))}"
        if isinstance(change, Mapping)
        else f"{escape(name)}: {escape(json.dumps(change, default=str))}"
        for name, change in values.items()
    ]
    return "<br>".join(parts)
