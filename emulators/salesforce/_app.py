"""The Salesforce emulator: REST, sObject Collections, SOQL, getUpdated/getDeleted, Bulk API
2.0 and limits over TLS, with session checks, the daily API budget and the admin API."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from emulators._base import BaseEmulator, EmuRequest, HttpError, json_response

from . import _bulk2, _composite, _query, _replication, _rest, _soap
from ._bulk2_jobs import Job
from ._common import API, api_version, http_error, render, sobject_or_404
from ._limits import Limits
from ._objects import ADMIN_USER_ID
from ._query import QueryResult
from ._store import PURGED_VISIBLE_SECONDS, Record, Store
from ._tls import TlsFiles, make_tls_files
from ._values import SaveError

__all__ = ["SalesforceEmulator"]

#: campaigns seeded at start and reset (workflow rules add contacts to them)
CAMPAIGNS = ("B2C Onboarding", "B2C VIP", "B2C Win-back", "B2C Churned")

_ADMIN_VERSION = "v59.0"
_GENERIC = {
    "UNAUTHORIZED": ("INVALID_SESSION_ID", "Session expired or invalid"),
    "FORBIDDEN": ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    "RATE_LIMIT": ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    "BAD_REQUEST": ("INVALID_INPUT", "Bad request"),
    "MALFORMED_JSON": ("JSON_PARSER_ERROR", None),
    "CONFLICT": ("CONFLICT", None),
    "INTERNAL_ERROR": (
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        "1337004242-42 (-1234567890)",
    ),
    "BAD_GATEWAY": ("SERVER_UNAVAILABLE", "Server temporarily unavailable"),
    "SERVICE_UNAVAILABLE": ("SERVER_UNAVAILABLE", "Server temporarily unavailable"),
    "ERROR": ("UNKNOWN_EXCEPTION", None),
}


class SalesforceEmulator(BaseEmulator):
    """A local Salesforce org that the real ``simple-salesforce`` talks to over https.

    Point the client at it with ``Salesforce(instance_url=emu.url,
    session_id=emu.session_id, version="59.0", session=s)`` where ``s.verify =
    emu.ca_file``. API writes are made as ``integration_user_id``; admin edits (the
    ``admin_*`` methods) as a second, human CRM user.
    """

    name = "salesforce"
    scheme = "https"

    def __init__(
        self,
        *,
        session_id: str = "00Demulator!session",
        integration_user_id: str = "005000000000001AAA",
        daily_limit: int = 15_000,
        clock: Callable[[], float] = time.time,
        query_batch_size: int = 2000,
        bulk_polls: int = 1,
        hard_delete_permission: bool = False,
        purged_visible_seconds: float = PURGED_VISIBLE_SECONDS,
        long_running_s: float = 20.0,
        long_running_limit: int = 25,
    ) -> None:
        self._initial_session = session_id
        self._session_id = session_id
        self._session_serial = 0
        self.integration_user_id = integration_user_id
        self.admin_user_id = ADMIN_USER_ID
        self._initial_daily_limit = daily_limit
        #: a call in flight this long counts as long-running; at ``long_running_limit`` of
        #: them a new call is refused (403 ConcurrentPerOrgLongTxn, production orgs: 25)
        self.long_running_s = long_running_s
        self.long_running_limit = long_running_limit
        self._initial_long_running = (long_running_s, long_running_limit)
        self.long_running_peak = 0
        self.long_running_rejected = 0
        self.query_batch_size = query_batch_size
        #: how many polls of a job see ``InProgress`` before it completes
        self.bulk_polls = bulk_polls
        #: the integration user's "Bulk API Hard Delete" permission; off, as in a new org
        self.hard_delete_permission = hard_delete_permission
        self._initial_hard_delete = hard_delete_permission
        self.store = Store(
            clock, {integration_user_id: "Integration User", ADMIN_USER_ID: "CRM Admin"}
        )
        self.store.purged_visible_seconds = purged_visible_seconds
        self.limits = Limits(clock, daily_limit)
        self.jobs: dict[str, Job] = {}
        self.cursors: dict[str, QueryResult] = {}
        self._tls: TlsFiles | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        super().__init__(clock=clock)
        self._seed_campaigns()

    # ---- public knobs

    @property
    def session_id(self) -> str:
        """The currently valid session id (access token)."""
        return self._session_id

    @property
    def instance_url(self) -> str:
        return self.url

    @property
    def ca_file(self) -> str:
        """PEM file of the CA that signed the server certificate (for ``verify=``)."""
        return self._tls_files().ca_file

    @property
    def daily_limit(self) -> int:
        return self.limits.api.maximum

    @daily_limit.setter
    def daily_limit(self, value: int) -> None:
        self.limits.api.maximum = value

    def expire_session(self) -> str:
        """Invalidate the current session (401 INVALID_SESSION_ID) and issue a new one."""
        self._session_serial += 1
        self._session_id = f"{self._initial_session}.{self._session_serial}"
        return self._session_id

    def consume_api_requests(self, count: int) -> None:
        """Spend ``count`` of the daily budget, as other integrations of the org would."""
        self.limits.api.add(count)

    def undelete(self, obj: str, rid: str) -> dict[str, Any]:
        """Restore a record from the Recycle Bin, as a CRM user would."""
        return self._admin(lambda: self.store.undelete(self._obj(obj), rid, self.admin_user_id))

    def touch(self, obj: str, rid: str) -> dict[str, Any]:
        """Move only ``SystemModstamp``, as a background system process would."""
        return self._admin(lambda: self.store.touch(self._obj(obj), rid))

    # ---- BaseEmulator hooks

    def register_routes(self) -> None:
        _rest.register(self)
        _replication.register(self)
        _rest.register_records(self)
        _composite.register(self)
        _query.register(self)
        _bulk2.register(self)
        _soap.register(self)
        for slash in ("", "/"):
            self.route("GET", f"{API}/limits{slash}", self._limits, name=f"{API}/limits")
        self.route("GET", "/services/oauth2/userinfo", self._userinfo)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            self.route(method, "/services/{rest:path}", self._not_found)

    def stop(self) -> None:
        """Stop promptly: idle keep-alive TLS connections are aborted, since a graceful TLS
        close waits for a close_notify that a pooled client socket never sends."""
        server, loop = self._server, self._loop
        if server is not None and loop is not None and not loop.is_closed():
            server.should_exit = True

            def abort_connections() -> None:
                for connection in list(server.server_state.connections):
                    transport = getattr(connection, "transport", None)
                    if transport is not None:
                        transport.abort()

            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(abort_connections)
        super().stop()
        self._loop = None

    def ssl_files(self) -> tuple[str, str]:
        files = self._tls_files()
        return files.cert_file, files.key_file

    def dispatch(self, handler: Callable[[EmuRequest], Response], req: EmuRequest) -> Response:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if not req.path.startswith("/services/"):
            return handler(req)
        auth = req.headers.get("authorization", "")
        token = auth.split(" ", 1)[1].strip() if " " in auth else ""
        if token != self._session_id:
            return self.error_response(
                HttpError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            )
        if not self.limits.api.take():
            response = self.error_response(
                HttpError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            )
        else:
            self.store.purge_expired()
            try:
                response = handler(req)
            except HttpError as err:
                response = self.error_response(err)
        response.headers["Sforce-Limit-Info"] = self.limits.header()
        return response

    def admit(self, req: EmuRequest) -> Response | None:
        """Refuse a call that arrives while ``long_running_limit`` calls have been in flight
        for ``long_running_s`` or more (403 ConcurrentPerOrgLongTxn, as a production org
        does at 25 calls of 20 s); the peak is the most long-running calls an arrival saw."""
        if not req.path.startswith("/services/"):
            return None
        horizon = self.clock() - self.long_running_s
        running = sum(1 for started in self.in_flight.values() if started <= horizon)
        self.long_running_peak = max(self.long_running_peak, running)
        if running < self.long_running_limit:
            return None
        self.long_running_rejected += 1
        response = self.error_response(
            HttpError(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
        )
        response.headers["Sforce-Limit-Info"] = self.limits.header()
        return response

    def stats(self) -> dict[str, Any]:
        """The base counters plus the org's limits: daily API usage and long-running calls."""
        return {
            **super().stats(),
            "api_usage": {"used": self.limits.api.used(), "max": self.limits.api.maximum},
            "long_running": {
                "threshold_s": self.long_running_s,
                "limit": self.long_running_limit,
                "peak": self.long_running_peak,
                "rejected": self.long_running_rejected,
            },
        }

    def error_response(self, err: HttpError) -> Response:
        """Salesforce's error array: ``[{"message", "errorCode", "fields"?}]``."""
        code, message = err.code, err.message
        if code in _GENERIC:
            code, fixed = _GENERIC[code]
            if fixed and message in {"", "Injected fault"}:
                message = fixed
        body: dict[str, Any] = {"message": message, "errorCode": code}
        if "fields" in err.extra:
            body["fields"] = err.extra["fields"]
        return json_response([body], err.status)

    def reset(self) -> None:
        super().reset()
        self.long_running_peak = self.long_running_rejected = 0
        self.long_running_s, self.long_running_limit = self._initial_long_running
        self.store.clear()
        self.limits = Limits(self.clock, self._initial_daily_limit)
        self.jobs.clear()
        self.cursors.clear()
        self._session_id = self._initial_session
        self.hard_delete_permission = self._initial_hard_delete
        self._seed_campaigns()

    def _seed_campaigns(self) -> None:
        """Campaigns the org set up for b2sync's workflow rules (config.yaml names them)."""
        for name in CAMPAIGNS:
            self.store.create(
                "Campaign", {"Name": name, "Status": "In Progress", "IsActive": True}, ADMIN_USER_ID
            )

    # ---- admin API

    def admin_list(self, obj: str) -> list[dict[str, Any]]:
        """Every record of ``obj``, Recycle Bin included (``IsDeleted``)."""
        name = self._obj(obj)
        return [render(_ADMIN_VERSION, name, r) for r in self.store.every(name)]

    def admin_get(self, obj: str, rid: str) -> dict[str, Any]:
        name = self._obj(obj)
        found = self.store.find(rid)
        if found is None or found[0] != name:
            raise HttpError(404, "NOT_FOUND", f"no {name} {rid}")
        return render(_ADMIN_VERSION, name, found[1])

    def admin_patch(self, obj: str, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Edit as a CRM user: timestamps move, ``LastModifiedById`` is the admin user."""
        return self._admin(lambda: self.store.update(self._obj(obj), rid, data, self.admin_user_id))

    def admin_create(self, obj: str, data: dict[str, Any]) -> dict[str, Any]:
        """Create as a CRM user."""
        return self._admin(lambda: self.store.create(self._obj(obj), data, self.admin_user_id))

    def admin_delete(self, obj: str, rid: str) -> None:
        """Delete into the Recycle Bin as a CRM user."""
        self._obj(obj)
        try:
            self.store.delete(rid, self.admin_user_id)
        except SaveError as err:
            raise http_error(err) from err

    # ---- internals

    def _obj(self, name: str) -> str:
        return sobject_or_404(self.store.schema, name).name

    def _admin(self, action: Callable[[], Record]) -> dict[str, Any]:
        try:
            rec = action()
        except SaveError as err:
            raise http_error(err) from err
        return render(_ADMIN_VERSION, self.store.object_of(rec["Id"]) or "", rec)

    def _limits(self, req: EmuRequest) -> Response:
        api_version(req)
        records = sum(len(rows) for rows in self.store.rows.values())
        return json_response(self.limits.body(records * 2 // 1024))

    def _userinfo(self, _req: EmuRequest) -> Response:
        """OpenID Connect userinfo of the session's user (the integration user)."""
        user = self.store.rows["User"].get(self.integration_user_id, {})
        return json_response(
            {
                "user_id": self.integration_user_id,
                "organization_id": "00D000000000001AAA",
                "preferred_username": user.get("Username"),
                "name": user.get("Name"),
            }
        )

    def _not_found(self, _req: EmuRequest) -> Response:
        raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")

    def _tls_files(self) -> TlsFiles:
        if self._tls is None:
            self._tls = make_tls_files()
        return self._tls
