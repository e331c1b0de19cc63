"""The daemon's one HTTP server: webhooks, health, metrics, status API (Starlette on uvicorn)."""

from __future__ import annotations

import hmac
import threading
from typing import Any, Protocol

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mapping.config import Config
from sync.service._metrics import CONTENT_TYPE
from sync.service._openapi import openapi_document
from sync.service._webhook_ledger import Ledger
from sync.service._webhooks import (
    MAX_BODY_BYTES,
    WebhookOutcome,
    b2connect_delivery,
    hubspot_delivery,
)

__all__ = ["HttpServer", "Service", "build_app"]

log = structlog.get_logger("b2sync.service.http")


class Service(Protocol):
    """What the HTTP layer needs from the daemon."""

    seen: Ledger
    version: str

    def config(self) -> Config: ...
    def now(self) -> float: ...
    def mark_due(self, names: list[str], trigger: str) -> None: ...
    def readiness(self) -> dict[str, Any]: ...
    def status(self) -> dict[str, Any]: ...
    def metrics_text(self) -> bytes: ...
    def status_token(self) -> str | None: ...
    def count_webhook(self, source: str, outcome: str) -> None: ...
    def file_erasures(self, items: list[Any]) -> None: ...


class _TooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(service: Service) -> Starlette:
    """The ASGI app."""

    async def webhook(request: Request, source: str) -> Response:
        connection = request.path_params.get("connection")
        try:
            body = await _read_body(request)
        except _TooLarge:
            service.count_webhook(source, "too_large")
            return JSONResponse({"status": "body too large"}, status_code=413)
        lookup = request.headers
        # the ledger writes to the store (and may wait for its lock): off the event loop
        if source == "b2connect":
            outcome = await run_in_threadpool(
                b2connect_delivery,
                service.config(), lookup, body, service.now(), service.seen, connection,
            )  # fmt: skip
        else:
            uri = str(request.url)
            outcome = await run_in_threadpool(
                hubspot_delivery,
                service.config(), lookup, body, uri, service.now(), service.seen, connection,
            )  # fmt: skip
        return await run_in_threadpool(_finish, service, source, outcome)

    async def b2connect(request: Request) -> Response:
        return await webhook(request, "b2connect")

    async def hubspot(request: Request) -> Response:
        return await webhook(request, "hubspot")

    def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def readyz(_request: Request) -> Response:
        checks = service.readiness()
        return JSONResponse(checks, status_code=200 if checks["ready"] else 503)

    def metrics(_request: Request) -> Response:
        return Response(service.metrics_text(), media_type=CONTENT_TYPE)

    def status(request: Request) -> Response:
        token = service.status_token()
        if token is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return JSONResponse(
                {"error": "unauthorized"}, status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        return JSONResponse(service.status())

    def openapi(_request: Request) -> Response:
        return JSONResponse(openapi_document(service.version))

    return Starlette(
        routes=[
            Route("/webhooks/b2connect", b2connect, methods=["POST"]),
            Route("/webhooks/b2connect/{connection}", b2connect, methods=["POST"]),
            Route("/webhooks/hubspot", hubspot, methods=["POST"]),
            Route("/webhooks/hubspot/{connection}", hubspot, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/api/status", status, methods=["GET"]),
            Route("/api/openapi.json", openapi, methods=["GET"]),
        ]
    )


def _finish(service: Service, source: str, outcome: WebhookOutcome) -> Response:
    service.count_webhook(source, str(outcome.status))
    log.info(
        "webhook.received", source=source, status=outcome.status, reason=outcome.reason,
        pipelines=outcome.pipelines,
    )  # fmt: skip
    if outcome.refused is not None:
        service.seen.refuse(source, outcome)
    if outcome.status == 202 and outcome.pipelines:
        service.mark_due(outcome.pipelines, "webhook")
    if outcome.status == 202 and outcome.erasures:
        service.file_erasures(outcome.erasures)
    return JSONResponse(outcome.body(), status_code=outcome.status)


class HttpServer:
    """uvicorn serving the app in a background thread."""

    def __init__(self, service: Service, host: str, port: int) -> None:
        config = uvicorn.Config(
            build_app(service), host=host, port=port, log_config=None, access_log=False,
            lifespan="off", timeout_graceful_shutdown=5,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        """Bind (raises OSError when the address is taken) and serve; returns host and port."""
        sock = self.server.config.bind_socket()
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="b2sync-http", daemon=True
        )
        self._thread.start()
        host, port = sock.getsockname()[:2]
        return str(host), int(port)

    def stop(self) -> None:
        """Stop accepting connections and wait for the thread."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
