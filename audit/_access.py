"""One structured log event per HTTP request of the compliance page (uvicorn's plain access
log is off): method, path without the query (a search names a person), status, duration."""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog"]

_log = structlog.get_logger("b2sync.audit.web")


class AccessLog:
    """ASGI middleware logging ``http.request`` once the response has started."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            _log.info(
                "http.request", method=scope.get("method"), path=scope.get("path"),
                status=status, duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )  # fmt: skip
