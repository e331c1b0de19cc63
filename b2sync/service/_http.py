"""The daemon's one HTTP server: webhooks, health, metrics, status API (Starlette on uvicorn).

Every response carries the security headers of :mod:`audit.headers`. ``/metrics`` needs
``http.metrics_token`` as a bearer token when one is set; without one it answers only while
the server listens on a loopback address (a daemon on ``0.0.0.0`` answers 403 there).
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
from typing import Any, Protocol

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from audit.headers import MIN_TOKEN_LENGTH, SecurityHeaders
from b2sync.service._metrics import CONTENT_TYPE
from b2sync.service._openapi import openapi_document
from b2sync.service._public_url import signed_uri
from b2sync.service._webhook_ledger import Ledger
from b2sync.service._webhooks import (
    MAX_BODY_BYTES,
    WebhookOutcome,
    b2connect_delivery,
    hubspot_delivery,
)
from mapping.config import Config

__all__ = ["HttpServer", "Service", "build_app", "is_loopback"]

log = structlog.get_logger("b2sync.service.http")


class Service(Protocol):
    """What the HTTP layer needs from the daemon."""

    seen: Ledger
    version: str

    def config(self) -> Config: ...
    def now(self) -> float: ...
    def mark_due(self, names: list[str], trigger: str, keys: list[str] | None = None) -> None: ...
    def readiness(self) -> dict[str, Any]: ...
    def status(self) -> dict[str, Any]: ...
    def metrics_text(self) -> bytes: ...
    def status_token(self) -> str | None: ...
    def metrics_token(self) -> str | None: ...
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


def is_loopback(host: str) -> bool:
    """``host`` is ``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bearer_ok(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _unauthorized() -> Response:
    return JSONResponse(
        {"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


def build_app(service: Service, *, exposed: bool = False) -> ASGIApp:
    """The ASGI app; ``exposed``: the server listens beyond loopback (metrics need a token)."""

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
            uri = signed_uri(
                service.config().http,
                peer=request.client.host if request.client else None,
                scheme=request.url.scheme,
                host=request.headers.get("host") or request.url.netloc,
                path=request.url.path,
                query=request.url.query,
                headers=request.headers,
            )
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

    def metrics(request: Request) -> Response:
        token = service.metrics_token()
        if token is not None and not _bearer_ok(request, token):
            return _unauthorized()
        if token is None and exposed:
            return JSONResponse(
                {"error": "set http.metrics_token to scrape /metrics on a non-loopback address"},
                status_code=403,
            )
        return Response(service.metrics_text(), media_type=CONTENT_TYPE)

    def status(request: Request) -> Response:
        token = service.status_token()
        if token is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        if not _bearer_ok(request, token):
            return _unauthorized()
        return JSONResponse(service.status())

    def openapi(_request: Request) -> Response:
        return JSONResponse(openapi_document(service.version))

    app = Starlette(
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
    return SecurityHeaders(app)


def _finish(service: Service, source: str, outcome: WebhookOutcome) -> Response:
    service.count_webhook(source, str(outcome.status))
    log.info(
        "webhook.received", source=source, status=outcome.status, reason=outcome.reason,
        pipelines=outcome.pipelines,
    )  # fmt: skip
    if outcome.refused is not None:
        service.seen.refuse(source, outcome)
    if outcome.status == 202 and outcome.pipelines:
        service.mark_due(outcome.pipelines, "webhook", outcome.keys)
    if outcome.status == 202 and outcome.erasures:
        service.file_erasures(outcome.erasures)
    return JSONResponse(outcome.body(), status_code=outcome.status)


class HttpServer:
    """uvicorn serving the app in a background thread."""

    def __init__(self, service: Service, host: str, port: int) -> None:
        self.exposed = not is_loopback(host)
        config = uvicorn.Config(
            build_app(service, exposed=self.exposed), host=host, port=port, log_config=None,
            access_log=False, lifespan="off", timeout_graceful_shutdown=5,
            # forwarded headers are honoured by signed_uri, from http.trusted_proxies only
            proxy_headers=False,
        )  # fmt: skip
        self.service = service
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
        self._warn_weak_tokens()
        if self.exposed and self.service.metrics_token() is None:
            log.warning(
                "http.metrics_closed", listen=f"{host}:{port}",
                detail="/metrics answers 403 beyond loopback until http.metrics_token is set",
            )  # fmt: skip
        return str(host), int(port)

    def _warn_weak_tokens(self) -> None:
        tokens = {
            "http.status_token": self.service.status_token(),
            "http.metrics_token": self.service.metrics_token(),
        }
        for setting, token in tokens.items():
            if token is not None and len(token) < MIN_TOKEN_LENGTH:
                log.warning(
                    "http.weak_token", setting=setting,
                    detail=f"use at least {MIN_TOKEN_LENGTH} random characters",
                )  # fmt: skip

    def stop(self) -> None:
        """Stop accepting connections and wait for the thread."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
