"""Shared machinery of the three emulators: routing with call counting, fault injection,
per-route latency (:mod:`emulators._latency`), the admin API and an in-process uvicorn
server bound to 127.0.0.1 on a free port.

Every emulator subclasses :class:`BaseEmulator`, registers its vendor routes with
:meth:`BaseEmulator.route` and implements the small :class:`AdminStore` surface used by the
``/_emulator/...`` admin API. Handlers are plain functions ``(EmuRequest) -> Response``; they
all run on the server's one event loop, so emulator state needs no locks. Injected latency
is awaited on that loop (``asyncio.sleep``), so concurrent calls overlap instead of queueing.

Besides the call counts, every emulator counts the 429s it answered per route and the calls
in flight (now and at the peak): ``GET /_emulator/stats``.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import random
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from emulators._latency import LatencyError, LatencyPlan

__all__ = [
    "BaseEmulator",
    "EmuRequest",
    "Fault",
    "FaultPlan",
    "FaultRule",
    "HttpError",
    "json_response",
]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with compact separators (the vendors do not pretty-print)."""
    return Response(
        json.dumps(body, separators=(",", ":"), default=str),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class HttpError(Exception):
    """Raised by a handler to answer with the emulator's own error body for ``status``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class EmuRequest:
    """What a handler sees of a request: already-read body, multi-valued query."""

    method: str
    path: str
    path_params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    template: str

    def q(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def q_list(self, name: str) -> list[str]:
        """All values of a query parameter, accepting repeats and comma-separated lists."""
        out: list[str] = []
        for value in self.query.get(name, []):
            out.extend(v for v in value.split(",") if v)
        return out

    def json(self) -> Any:
        """The body parsed as JSON; a 400 in the emulator's dialect when it is not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(
                400, "MALFORMED_JSON", f"Request body is not valid JSON: {exc}"
            ) from exc


# --------------------------------------------------------------------------- faults


@dataclass
class FaultRule:
    """One scripted or random fault.

    ``match`` is a route key (``"POST /crm/v3/objects/{object_type}/batch/upsert"``), a prefix
    ending in ``*``, or ``"*"`` for every vendor route. ``kind`` is ``status`` (answer
    ``status`` with the vendor's error body, ``code`` as its error code), ``slow`` (delay
    ``delay_s`` then serve normally), ``reset`` (drop the connection mid-response),
    ``partial`` (batch handlers fail records whose index satisfies ``every``) or
    ``expired_session`` (401 in the vendor's dialect). A rule fires on matching calls after
    ``after`` of them, at most ``times`` times (None = no limit), with ``probability``
    drawn from the plan's seeded generator.
    """

    match: str = "*"
    kind: str = "status"
    status: int = 500
    code: str | None = None
    message: str | None = None
    delay_s: float = 0.0
    probability: float = 1.0
    after: int = 0
    times: int | None = None
    every: int = 2
    headers: dict[str, str] = field(default_factory=dict)
    seen: int = 0
    fired: int = 0

    def matches(self, key: str) -> bool:
        if self.match == "*":
            return True
        if self.match.endswith("*"):
            return key.startswith(self.match[:-1])
        return key == self.match


@dataclass(frozen=True)
class Fault:
    """A fault that fired for one call."""

    rule: FaultRule


class FaultPlan:
    """Deterministic fault plan: rules are checked in order for each vendor call."""

    def __init__(self, rules: list[FaultRule] | None = None, seed: int = 0) -> None:
        self.rules = rules or []
        self.rng = random.Random(seed)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultPlan:
        known = set(FaultRule.__dataclass_fields__) - {"seen", "fired"}
        rules = []
        for raw in data.get("rules", []):
            unknown = set(raw) - known
            if unknown:
                raise HttpError(400, "INVALID_FAULT", f"unknown fault keys: {sorted(unknown)}")
            rules.append(FaultRule(**raw))
        return cls(rules, seed=int(data.get("seed", 0)))

    def to_json(self) -> list[dict[str, Any]]:
        return [dict(r.__dict__) for r in self.rules]

    def pick(self, key: str, *, kinds: frozenset[str]) -> Fault | None:
        """The first rule of one of ``kinds`` that fires for this call, counting it."""
        for rule in self.rules:
            if rule.kind not in kinds or not rule.matches(key):
                continue
            rule.seen += 1
            if rule.seen <= rule.after:
                continue
            if rule.times is not None and rule.fired >= rule.times:
                continue
            if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                continue
            rule.fired += 1
            return Fault(rule)
        return None

    def partial_failures(self, key: str, count: int) -> set[int]:
        """Indexes of batch inputs a ``partial`` rule makes fail for this call."""
        return self.partial_fault(key, count)[0]

    def partial_fault(self, key: str, count: int) -> tuple[set[int], FaultRule | None]:
        """Indexes of batch inputs a ``partial`` rule makes fail for this call, and the rule
        (its ``code``, when set, is the error those inputs get: a transient one or not)."""
        fault = self.pick(key, kinds=frozenset({"partial"}))
        if fault is None:
            return set(), None
        every = max(1, fault.rule.every)
        return {i for i in range(count) if i % every == every - 1}, fault.rule


class _ResetResponse(Response):
    """Promises a body, then aborts: the client sees a broken connection."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"partial":', "more_body": True})
        raise ConnectionResetError("emulator fault: connection reset")


# --------------------------------------------------------------------------- server


class _DropInjectedResets(logging.Filter):
    """Keep uvicorn from printing a traceback for every injected connection reset."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, ConnectionResetError) and "emulator fault" in str(exc))


logging.getLogger("uvicorn.error").addFilter(_DropInjectedResets())


def free_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on loopback; port 0 picks a free one."""
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto is TCP; without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


class BaseEmulator(abc.ABC):
    """A vendor emulator: routes, call counts, faults, admin API, in-process server."""

    #: name used in the admin API and state files
    name: str = "emulator"
    #: scheme served; Salesforce overrides with https
    scheme: str = "http"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.calls: Counter[str] = Counter()
        #: 429 answers sent, per route key
        self.rejected: Counter[str] = Counter()
        self.faults = FaultPlan()
        #: per-route latency; kept across :meth:`reset` (it is how the emulator was started)
        self.latency = LatencyPlan()
        #: start times (``clock``) of the vendor calls being served, by call serial
        self.in_flight: dict[int, float] = {}
        self.peak_in_flight = 0
        #: vendor calls being served and their peak, per route key (``METHOD path``)
        self.in_flight_by_route: Counter[str] = Counter()
        self.peak_in_flight_by_route: Counter[str] = Counter()
        self._serial = 0
        self._routes: list[Route] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._add_admin_routes()
        self.register_routes()
        self.app = Starlette(routes=self._routes)

    # ---- what subclasses provide

    @abc.abstractmethod
    def register_routes(self) -> None:
        """Register the vendor routes with :meth:`route`."""

    def error_response(self, err: HttpError) -> Response:
        """The vendor's error body for ``err``."""
        return json_response({"code": err.code, "message": err.message}, err.status)

    def admin_list(self, obj: str) -> list[dict[str, Any]]:
        raise HttpError(404, "NOT_FOUND", f"unknown object {obj}")

    def admin_get(self, obj: str, rid: str) -> dict[str, Any]:
        for rec in self.admin_list(obj):
            if str(rec.get("id", rec.get("Id"))) == rid:
                return rec
        raise HttpError(404, "NOT_FOUND", f"no {obj} {rid}")

    def admin_patch(self, obj: str, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        raise HttpError(405, "NOT_SUPPORTED", f"cannot edit {obj}")

    def admin_create(self, obj: str, data: dict[str, Any]) -> dict[str, Any]:
        raise HttpError(405, "NOT_SUPPORTED", f"cannot create {obj}")

    def reset(self) -> None:
        """Forget all data and counters (subclasses extend, then call super)."""
        self.calls.clear()
        self.rejected.clear()
        self.peak_in_flight = len(self.in_flight)
        self.peak_in_flight_by_route = +self.in_flight_by_route
        self.faults = FaultPlan()

    def ssl_files(self) -> tuple[str, str] | None:
        """(certfile, keyfile) when the emulator serves TLS."""
        return None

    # ---- routing

    def route(
        self,
        method: str,
        path: str,
        handler: Callable[[EmuRequest], Response],
        *,
        counted: bool = True,
        faults: bool = True,
        name: str | None = None,
    ) -> None:
        """Register ``handler`` for ``METHOD path``; calls are counted as ``METHOD path``."""
        key = f"{method} {name or path}"
        emulator = self

        async def endpoint(request: Request) -> Response:
            if counted:
                emulator.calls[key] += 1
            body = await request.body()
            req = EmuRequest(
                method=request.method,
                path=request.url.path,
                path_params={k: str(v) for k, v in request.path_params.items()},
                query=_multi_query(request),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                template=key,
            )
            if not counted:
                return emulator._serve(handler, req, key)
            refused = emulator.admit(req)
            if refused is not None:
                return emulator._counted(key, refused)
            serial = emulator._enter(key)
            try:
                response = None
                if faults:
                    early = await emulator._apply_faults(key)
                    if early is not None:
                        response = emulator._counted(key, early)
                if response is None:
                    response = emulator._serve(handler, req, key)
                # served (limits counted, data changed) on arrival; the answer takes its time
                delay = emulator.latency.delay_s(req.method, req.path)
                if delay > 0:
                    await asyncio.sleep(delay)
                return response
            finally:
                emulator.in_flight.pop(serial, None)
                emulator.in_flight_by_route[key] -= 1

        self._routes.append(Route(path, endpoint, methods=[method]))

    def dispatch(self, handler: Callable[[EmuRequest], Response], req: EmuRequest) -> Response:
        """Run a handler; subclasses wrap this for auth, rate limits and headers."""
        return handler(req)

    def admit(self, req: EmuRequest) -> Response | None:
        """Check a vendor call as it arrives (before its latency); a response refuses it.
        Subclasses enforce concurrency limits here."""
        return None

    def _serve(
        self,
        handler: Callable[[EmuRequest], Response],
        req: EmuRequest,
        key: str,
    ) -> Response:
        try:
            return self._counted(key, self.dispatch(handler, req))
        except HttpError as err:
            return self._counted(key, self.error_response(err))

    def _counted(self, key: str, response: Response) -> Response:
        if response.status_code == 429:
            self.rejected[key] += 1
        return response

    def _enter(self, key: str) -> int:
        """Register a vendor call of route ``key`` as in flight; its serial."""
        self._serial += 1
        self.in_flight[self._serial] = self.clock()
        self.peak_in_flight = max(self.peak_in_flight, len(self.in_flight))
        self.in_flight_by_route[key] += 1
        peak = self.peak_in_flight_by_route
        peak[key] = max(peak[key], self.in_flight_by_route[key])
        return self._serial

    def stats(self) -> dict[str, Any]:
        """Counters for benchmarks and tests (``GET /_emulator/stats``); subclasses add
        their limits."""
        return {
            "calls": dict(sorted(self.calls.items())),
            "calls_total": sum(self.calls.values()),
            "rejected_429": dict(sorted(self.rejected.items())),
            "rejected_429_total": sum(self.rejected.values()),
            "in_flight": len(self.in_flight),
            "peak_in_flight": self.peak_in_flight,
            "peak_in_flight_by_route": dict(sorted(self.peak_in_flight_by_route.items())),
            "latency": self.latency.to_json(),
        }

    def set_latency(self, raw: Any, seed: int = 0) -> None:
        """Replace the latency plan (milliseconds or ``{pattern: delay}``); a 400 in the
        admin API when it does not parse."""
        try:
            self.latency = LatencyPlan.parse(raw, seed)
        except LatencyError as exc:
            raise HttpError(400, "INVALID_LATENCY", str(exc)) from exc

    async def _apply_faults(self, key: str) -> Response | None:
        fault = self.faults.pick(
            key, kinds=frozenset({"status", "slow", "reset", "expired_session"})
        )
        if fault is None:
            return None
        rule = fault.rule
        if rule.kind == "slow":
            await asyncio.sleep(rule.delay_s)
            return None
        if rule.kind == "reset":
            return _ResetResponse()
        if rule.kind == "expired_session":
            return self.error_response(
                HttpError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            )
        resp = self.error_response(
            HttpError(
                rule.status,
                rule.code or _default_code(rule.status),
                rule.message or "Injected fault",
            )
        )
        for k, v in rule.headers.items():
            resp.headers[k] = v
        return resp

    # ---- admin API

    def _add_admin_routes(self) -> None:
        def list_records(req: EmuRequest) -> Response:
            return json_response(self.admin_list(req.path_params["obj"]))

        def get_record(req: EmuRequest) -> Response:
            return json_response(self.admin_get(req.path_params["obj"], req.path_params["rid"]))

        def patch_record(req: EmuRequest) -> Response:
            data = req.json() or {}
            return json_response(
                self.admin_patch(req.path_params["obj"], req.path_params["rid"], data)
            )

        def create_record(req: EmuRequest) -> Response:
            return json_response(self.admin_create(req.path_params["obj"], req.json() or {}), 201)

        def get_calls(_req: EmuRequest) -> Response:
            return json_response(dict(sorted(self.calls.items())))

        def set_faults(req: EmuRequest) -> Response:
            self.faults = FaultPlan.from_json(req.json() or {})
            return json_response({"rules": self.faults.to_json()})

        def get_faults(_req: EmuRequest) -> Response:
            return json_response({"rules": self.faults.to_json()})

        def get_stats(_req: EmuRequest) -> Response:
            return json_response(self.stats())

        def put_latency(req: EmuRequest) -> Response:
            data = req.json()
            if isinstance(data, dict) and "plan" in data:
                self.set_latency(data["plan"], int(data.get("seed", 0)))
            else:
                self.set_latency(data)
            return json_response(self.latency.to_json())

        def get_latency(_req: EmuRequest) -> Response:
            return json_response(self.latency.to_json())

        def do_reset(_req: EmuRequest) -> Response:
            self.reset()
            return json_response({"reset": True})

        admin = {"counted": False, "faults": False}
        self.route("GET", "/_emulator/records/{obj}", list_records, **admin)
        self.route("POST", "/_emulator/records/{obj}", create_record, **admin)
        self.route("GET", "/_emulator/records/{obj}/{rid}", get_record, **admin)
        self.route("PATCH", "/_emulator/records/{obj}/{rid}", patch_record, **admin)
        self.route("GET", "/_emulator/calls", get_calls, **admin)
        self.route("POST", "/_emulator/faults", set_faults, **admin)
        self.route("GET", "/_emulator/faults", get_faults, **admin)
        self.route("POST", "/_emulator/reset", do_reset, **admin)
        self.route("GET", "/_emulator/stats", get_stats, **admin)
        self.route("GET", "/_emulator/latency", get_latency, **admin)
        self.route("PUT", "/_emulator/latency", put_latency, **admin)

    # ---- lifecycle

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43123``."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self, port: int = 0) -> BaseEmulator:
        """Serve in a background thread on 127.0.0.1; returns once accepting connections."""
        sock = free_socket(self.host, port)
        self.port = sock.getsockname()[1]
        kwargs: dict[str, Any] = {}
        files = self.ssl_files()
        if files is not None:
            kwargs = {"ssl_certfile": files[0], "ssl_keyfile": files[1]}
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=30,
            **kwargs,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"{self.name}-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> BaseEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _multi_query(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    return out


def _default_code(status: int) -> str:
    return {
        400: "BAD_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        409: "CONFLICT",
        429: "RATE_LIMIT",
        500: "INTERNAL_ERROR",
        502: "BAD_GATEWAY",
        503: "SERVICE_UNAVAILABLE",
    }.get(status, "ERROR")


def iter_chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of ``items`` of at most ``size``."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def client_ssl_context(ca_file: str) -> ssl.SSLContext:
    """An SSL context trusting only the emulator CA (for urllib3/hubspot clients)."""
    return ssl.create_default_context(cafile=ca_file)
