"""The read-only compliance page: search the trail, erasure requests, CSV download.

Server-rendered HTML on Starlette, no JavaScript. API clients send ``Authorization: Bearer``;
browsers log in once through the ``/login`` form (see :mod:`audit._auth`); ``?token=`` is
refused. Every response carries :mod:`audit.headers` (no-store, CSP, no framing). ``serve()``
runs it with uvicorn; the daemon can mount :func:`make_app`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from audit import _html
from audit._access import AccessLog
from audit._auth import COOKIE, SESSION_SECONDS, Gate
from audit.headers import SecurityHeaders
from audit.keys import KeyRing
from audit.query import EventView, Filters, count, search, to_csv
from store import ErasureRequest

__all__ = ["make_app", "parse_time", "serve"]

MAX_ROWS = 1000
#: events per page of the history (server-side pagination)
PAGE_SIZE = 50
MAX_FORM_BYTES = 4096
_erasures: sa.Table = ErasureRequest.__table__  # type: ignore[attr-defined]
_FILTER_PARAMS = ("subject", "since", "until", "action", "pipeline", "system")
_REFUSED_IN_URL = (
    "the token is never accepted in the URL (access logs keep URLs): "
    "send Authorization: Bearer, or log in at /login"
)


def make_app(engine: sa.Engine, keys: KeyRing, token: str) -> SecurityHeaders:
    """The ASGI app; every page needs the bearer token or a session from ``/login``.

    Raises:
        audit._auth.TokenError: ``token`` is shorter than 32 characters.
    """
    gate = Gate(token)

    def guarded(request: Request) -> Response | None:
        """The refusal for a request that may not see the page, or None."""
        if "token" in request.query_params:
            return PlainTextResponse(_REFUSED_IN_URL, status_code=400)
        if gate.allows(request):
            return None
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        body = _html.login_form(target, "Log in with the access token to see this page.")
        return HTMLResponse(
            _html.page("Log in", body, nav=False),
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="b2sync audit"'},
        )

    def history(request: Request) -> Response:
        if (refused := guarded(request)) is not None:
            return refused
        params = {k: request.query_params.get(k, "").strip() for k in _FILTER_PARAMS}
        try:
            filters = _filters(params, limit=PAGE_SIZE)
            wanted = _page_number(request.query_params.get("page", ""))
        except ValueError as exc:
            body = _html.search_form(params) + _html.error(str(exc))
            return HTMLResponse(_html.page("Audit trail", body), status_code=400)
        with engine.connect() as conn:
            views, paging = _page(conn, keys, filters, wanted, params)
        return HTMLResponse(_history_page(params, views, paging))

    def export_csv(request: Request) -> Response:
        if (refused := guarded(request)) is not None:
            return refused
        params = {k: request.query_params.get(k, "").strip() for k in _FILTER_PARAMS}
        try:
            filters = _filters(params, limit=None)
        except ValueError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        with engine.connect() as conn:
            text = to_csv(search(conn, keys, filters))
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": "attachment; filename=audit.csv"},
        )

    def erasures(request: Request) -> Response:
        if (refused := guarded(request)) is not None:
            return refused
        with engine.connect() as conn:
            result = conn.execute(
                sa.select(_erasures).order_by(_erasures.c.requested_at.desc()).limit(MAX_ROWS)
            )
            rows = [dict(zip(result.keys(), row, strict=True)) for row in result]
        return HTMLResponse(_html.page("Erasure requests", _html.erasure_table(rows)))

    def login_page(request: Request) -> Response:
        if "token" in request.query_params:
            return PlainTextResponse(_REFUSED_IN_URL, status_code=400)
        target = _safe_next(request.query_params.get("next", "/"))
        return HTMLResponse(_html.page("Log in", _html.login_form(target), nav=False))

    async def login(request: Request) -> Response:
        if not _same_origin(request):
            return PlainTextResponse("cross-site login refused", status_code=403)
        form = await _form(request)
        if form is None:
            return PlainTextResponse("the login form is too large", status_code=413)
        target = _safe_next(form.get("next", "/"))
        if not gate.token_ok(form.get("token", "")):
            body = _html.login_form(target, "Wrong token.")
            return HTMLResponse(_html.page("Log in", body, nav=False), status_code=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, gate.new_session(), max_age=SESSION_SECONDS, path="/", httponly=True,
            samesite="strict", secure=request.url.scheme == "https",
        )  # fmt: skip
        return response

    def logout(request: Request) -> Response:
        if not _same_origin(request):
            return PlainTextResponse("cross-site logout refused", status_code=403)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    app = Starlette(
        routes=[
            Route("/", history),
            Route("/export.csv", export_csv),
            Route("/erasures", erasures),
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
        ]
    )
    return SecurityHeaders(AccessLog(app), _html.CSP)


def _safe_next(path: str) -> str:
    """``path`` when it is a local absolute path (no open redirect), else ``/``."""
    if path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def _same_origin(request: Request) -> bool:
    """No ``Origin`` header (not a browser) or one naming this very host and port (the scheme
    is not compared: behind a TLS proxy the browser says https, the app sees http)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def _form(request: Request) -> dict[str, str] | None:
    """The url-encoded form fields (first value each); None when the body is too large."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def parse_time(text: str) -> datetime | None:
    """An ISO date or date-time; naive values are taken as UTC; empty gives None."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO date or date-time (2026-03-01T12:00)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _page(
    conn: sa.Connection, keys: KeyRing, filters: Filters, wanted: int, params: dict[str, str]
) -> tuple[list[EventView], _html.Paging]:
    """Page ``wanted`` (or the last one) of the matches, newest first."""
    query = urlencode({k: v for k, v in params.items() if v})
    total = count(conn, keys, filters)
    paging = _html.Paging(min(wanted, max(1, -(-total // PAGE_SIZE))), PAGE_SIZE, total, query)
    at = replace(filters, offset=(paging.page - 1) * PAGE_SIZE, newest_first=True)
    return search(conn, keys, at), paging


def _history_page(params: dict[str, str], views: list[EventView], paging: _html.Paging) -> str:
    """The history page: the refilled form, then the page of events (a person's timeline
    when the person field is filled)."""
    csv_href = "/export.csv" + (f"?{paging.query}" if paging.query else "")
    subject = params["subject"] or None
    body = _html.search_form(params) + _html.history(views, paging, csv_href, subject)
    return _html.page(f"Timeline of {subject}" if subject else "Audit trail", body)


def _page_number(text: str) -> int:
    """The 1-based page asked for (empty: the first)."""
    if not text:
        return 1
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"page must be a whole number from 1, not '{text[:20]}'")
    return int(text)


def _filters(params: dict[str, str], limit: int | None = MAX_ROWS) -> Filters:
    return Filters(
        subject=params["subject"] or None,
        since=parse_time(params["since"]),
        until=parse_time(params["until"]),
        action=params["action"] or None,
        pipeline=params["pipeline"] or None,
        system=params["system"] or None,
        limit=limit,
    )


def serve(url_of_store: str, token: str, host: str = "127.0.0.1", port: int = 8766) -> None:
    """Serve the page until interrupted (the master key comes from the environment).

    uvicorn's own logging config is off and its plain access log too: each request is one
    structured ``http.request`` event (:mod:`audit._access`; the path without its query, which
    may name a person), and uvicorn's other records go through the caller's logging setup
    (``b2sync ui`` / ``b2sync audit ui`` render them as JSON, redacted, like every log line).
    """
    import uvicorn

    from audit.keystore import load_keyring
    from store import begin_write, make_engine

    engine = make_engine(url_of_store)
    try:
        with begin_write(engine) as conn:
            keys = load_keyring(conn)  # the store's root: still opens after `keys rotate`
        uvicorn.run(
            make_app(engine, keys, token), host=host, port=port, log_config=None,
            access_log=False,
        )  # fmt: skip
    finally:
        engine.dispose()
