"""The read-only compliance page: search the trail, erasure requests, CSV download.

Server-rendered HTML on Starlette behind a token (``?token=`` or ``Authorization: Bearer``);
no JavaScript. ``serve()`` runs it with uvicorn; the daemon can mount :func:`make_app`.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from audit import _html
from audit.keys import KeyRing
from audit.query import Filters, search, to_csv
from store import ErasureRequest

MAX_ROWS = 1000
_erasures: sa.Table = ErasureRequest.__table__  # type: ignore[attr-defined]
_FILTER_PARAMS = ("subject", "since", "until", "action", "pipeline", "system")


def make_app(engine: sa.Engine, keys: KeyRing, token: str) -> Starlette:
    """The Starlette app; every route requires ``token``."""
    if not token:
        raise ValueError("the audit page needs a non-empty token")

    def authorised(request: Request) -> bool:
        given = request.query_params.get("token", "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        return hmac.compare_digest(given.encode(), token.encode())

    def denied() -> Response:
        return PlainTextResponse(
            "401: pass the audit token as ?token= or Authorization: Bearer", status_code=401
        )

    def history(request: Request) -> Response:
        if not authorised(request):
            return denied()
        params = {k: request.query_params.get(k, "").strip() for k in _FILTER_PARAMS}
        try:
            filters = _filters(params)
        except ValueError as exc:
            body = _html.search_form(params, token) + f"<p class='erased'>{exc}</p>"
            return HTMLResponse(_html.page("Audit trail", body, token), status_code=400)
        with engine.connect() as conn:
            views = search(conn, keys, filters)
        csv_href = "/export.csv?" + request.url.query
        body = _html.search_form(params, token) + _html.history_table(views, csv_href)
        return HTMLResponse(_html.page("Audit trail", body, token))

    def export_csv(request: Request) -> Response:
        if not authorised(request):
            return denied()
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
        if not authorised(request):
            return denied()
        with engine.connect() as conn:
            result = conn.execute(
                sa.select(_erasures).order_by(_erasures.c.requested_at.desc()).limit(MAX_ROWS)
            )
            rows = [dict(zip(result.keys(), row, strict=True)) for row in result]
        return HTMLResponse(_html.page("Erasure requests", _html.erasure_table(rows), token))

    return Starlette(
        routes=[
            Route("/", history),
            Route("/export.csv", export_csv),
            Route("/erasures", erasures),
        ]
    )


def parse_time(text: str) -> datetime | None:
    """An ISO date or date-time; naive values are taken as UTC; empty gives None."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO date or date-time (2026-03-01T12:00)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


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
    """Serve the page until interrupted (the master key comes from the environment)."""
    import uvicorn

    from audit.keystore import load_keyring
    from store import make_engine

    engine = make_engine(url_of_store)
    try:
        with engine.begin() as conn:
            keys = load_keyring(conn)  # the store's root: still opens after `keys rotate`
        uvicorn.run(make_app(engine, keys, token), host=host, port=port)
    finally:
        engine.dispose()
