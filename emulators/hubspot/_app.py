"""The HubSpot emulator: auth, rate limits, error bodies, admin API and webhooks."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from emulators._base import BaseEmulator, EmuRequest, HttpError, json_response

from ._associations import AssociationRoutes
from ._batch import BatchRoutes
from ._commprefs import CommPrefs
from ._commprefs_v4 import CommPrefsV4
from ._limits import MESSAGES, TEN_SECONDLY, RateLimiter
from ._lists import ListRoutes
from ._objects import ObjectRoutes
from ._properties import PropertyRoutes
from ._schema import EMAIL_ANALYTICS, ObjectType, association_types, resolve_type
from ._search import SearchRoutes
from ._store import CrmStore, Record
from ._util import category_for, correlation_id, validation_error
from ._values import normalize
from ._webhooks import Delivery, WebhookSender

UI = "CRM_UI"
_NO_CREDENTIALS = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class HubSpotEmulator(BaseEmulator):
    """A local HubSpot portal for ``hubspot-api-client`` 12 (CRM v3, associations v4,
    properties, GDPR delete, communication preferences v3/v4, rate limits, webhooks)."""

    name = "hubspot"

    def __init__(
        self,
        *,
        token: str = "pat-emulator-token",  # noqa: S107  # well-known emulator default
        app_secret: str = "emulator-app-secret",  # noqa: S107  # well-known emulator default
        portal_id: int = 4242,
        rate_limit_per_10s: int = 190,
        daily_limit: int = 650_000,
        search_per_second: int = 5,
        retry_after: int | None = None,
        webhook_url: str | None = None,
        time_zone: str = "US/Eastern",
        clock: Callable[[], float] = time.time,
        search_lag_s: float = 0.0,
    ) -> None:
        self.clock = clock
        #: the portal's time zone setting (HubSpot's own examples show US/Eastern); the daily
        #: API limit resets at midnight in it
        self.time_zone = time_zone
        #: seconds before a write shows in search; 0 (instant) keeps unrelated tests
        #: deterministic, the fidelity tests turn it on (see emulators/hubspot/_search.py)
        self.default_search_lag_s = search_lag_s
        self.token = token
        self.app_secret = app_secret
        self.portal_id = portal_id
        self.app_id = 900_000 + portal_id
        self.retry_after = retry_after
        #: also send webhooks for the integration's own API writes (HubSpot does, with
        #: changeSource INTEGRATION); off by default so a sync does not wake itself up
        self.webhook_api_changes = False
        self.store = CrmStore(clock)
        self.store.app_id = self.app_id
        self.store.listener = self._on_change
        self.store.search_lag_s = search_lag_s
        self.limits = RateLimiter(
            clock,
            per_10s=rate_limit_per_10s,
            daily=daily_limit,
            search_per_second=search_per_second,
            zone=ZoneInfo(time_zone),
        )
        self.webhooks: WebhookSender | None = None
        if webhook_url:
            self.webhooks = self._sender(webhook_url)
        self.commprefs = CommPrefs(self)
        self.lists = ListRoutes(self)
        super().__init__(clock=clock)
        self.app.add_exception_handler(404, self._no_route)
        self.app.add_exception_handler(405, self._no_route)

    def _sender(self, url: str) -> WebhookSender:
        return WebhookSender(
            url,
            app_secret=self.app_secret,
            portal_id=self.portal_id,
            app_id=self.app_id,
            clock=self.clock,
        )

    # ---- wiring

    def register_routes(self) -> None:
        objects = ObjectRoutes(self)
        BatchRoutes(self, objects).register()
        SearchRoutes(self).register()
        objects.register()
        PropertyRoutes(self).register()
        AssociationRoutes(self).register()
        self.commprefs.register()
        CommPrefsV4(self, self.commprefs).register()
        self.lists.register()
        self.route("GET", "/account-info/v3/details", self.account_details)

    def account_details(self, req: EmuRequest) -> Response:
        """``GET /account-info/v3/details``: the portal id, time zone and currency, shaped as
        https://developers.hubspot.com/docs/api-reference/latest/account/account-information/
        get-account-details documents it."""
        offset = datetime.fromtimestamp(self.clock(), tz=ZoneInfo(self.time_zone)).utcoffset()
        seconds = int(offset.total_seconds()) if offset is not None else 0
        sign = "-" if seconds < 0 else "+"
        hours, minutes = divmod(abs(seconds) // 60, 60)
        return json_response(
            {
                "portalId": self.portal_id,
                "accountType": "STANDARD",
                "timeZone": self.time_zone,
                "companyCurrency": "USD",
                "additionalCurrencies": [],
                "utcOffset": f"{sign}{hours:02d}:{minutes:02d}",
                "utcOffsetMilliseconds": seconds * 1000,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            }
        )

    def dispatch(self, handler: Callable[[EmuRequest], Response], req: EmuRequest) -> Response:
        if req.path.startswith("/_emulator/"):
            return handler(req)
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return self.error_response(HttpError(401, "INVALID_AUTHENTICATION", _NO_CREDENTIALS))
        token = auth[7:].strip()
        if token != self.token:
            return self.error_response(
                HttpError(
                    401,
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found or invalid: the access token is not "
                    "valid for this portal",
                )
            )
        search = req.template.endswith("/search")
        policy = self.limits.check(token, search=search)
        headers = {} if search else self.limits.headers(token)
        if policy is not None:
            resp = self.error_response(
                HttpError(429, "RATE_LIMITS", MESSAGES[policy], policyName=policy)
            )
        else:
            try:
                resp = handler(req)
            except HttpError as err:
                resp = self.error_response(err)
        for k, v in headers.items():
            resp.headers[k] = v
        return resp

    def stats(self) -> dict[str, Any]:
        """The base counters (429s sent among them) plus the portal's limits and usage."""
        return {**super().stats(), "limits": self.limits.usage(self.token)}

    async def _no_route(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        message = f"Unable to route {request.method} {request.url.path}"
        return self.error_response(HttpError(status, "NOT_FOUND", message))

    def error_response(self, err: HttpError) -> Response:
        cid = correlation_id()
        headers = dict(err.extra.get("headers") or {})
        if err.status == 429:
            body: dict[str, Any] = {
                "status": "error",
                "message": err.message
                if err.message != "Injected fault"
                else MESSAGES[TEN_SECONDLY],
                "errorType": "RATE_LIMIT",
                "correlationId": cid,
                "policyName": err.extra.get("policyName", TEN_SECONDLY),
                "requestId": correlation_id(),
            }
            if self.retry_after is not None:
                headers.setdefault("Retry-After", str(self.retry_after))
            return json_response(body, 429, headers)
        category = category_for(err.status, err.code)
        message = err.message
        if err.code == "INVALID_SESSION_ID":
            category, message = (
                "EXPIRED_AUTHENTICATION",
                ("The OAuth token used to make this call expired 0 second(s) ago."),
            )
        body = {"status": "error", "message": message, "correlationId": cid, "category": category}
        for key in ("subCategory", "errors", "context"):
            if err.extra.get(key):
                body[key] = err.extra[key]
        return json_response(body, err.status, headers)

    # ---- change events

    def _on_change(self, kind: str, rec: Record, changed: list[str], source: str) -> None:
        if (
            rec.type.name == "contacts"
            and kind in ("creation", "propertyChange")
            and "email" in changed
        ):
            email = rec.properties.get("email")
            if email and (email in self.commprefs.statuses or email in self.commprefs.opted_out):
                rec.properties.update(
                    {k: v for k, v in self.commprefs.contact_props(email).items() if v}
                )
        if self.webhooks is None:
            return
        if source == UI or kind in ("deletion", "privacyDeletion") or self.webhook_api_changes:
            self.webhooks.emit(kind, rec, changed, source)

    @property
    def webhook_url(self) -> str | None:
        return self.webhooks.url if self.webhooks else None

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        if self.webhooks is not None:
            self.webhooks.stop()
        self.webhooks = self._sender(url) if url else None

    def flush_webhooks(self, timeout_s: float = 10.0) -> bool:
        """Block until queued webhooks were delivered (or given up on)."""
        return self.webhooks.flush(timeout_s) if self.webhooks else True

    @property
    def webhook_deliveries(self) -> list[Delivery]:
        """Every POST attempt made so far."""
        return list(self.webhooks.deliveries) if self.webhooks else []

    # ---- Python helpers for tests

    @property
    def search_lag_s(self) -> float:
        """Seconds before a write shows in search (HubSpot's index is eventually consistent)."""
        return self.store.search_lag_s

    @search_lag_s.setter
    def search_lag_s(self, seconds: float) -> None:
        self.store.search_lag_s = seconds

    def records(self, obj: str, *, archived: bool | None = None) -> list[dict[str, Any]]:
        """Records of ``obj`` in the admin shape; ``archived`` filters when not None."""
        ot = resolve_type(obj)
        return [
            r.admin_json() for r in self.store.all(ot) if archived is None or r.archived == archived
        ]

    def record(self, obj: str, rid: str) -> dict[str, Any] | None:
        rec = self.store.get(resolve_type(obj), str(rid))
        return rec.admin_json() if rec else None

    # ---- admin API

    def admin_list(self, obj: str) -> list[dict[str, Any]]:
        if obj == "associations":
            return list(self.store.assoc.rows())
        if obj == "subscriptions":
            return self._subscription_rows()
        return self.records(_admin_type(obj).name)

    def admin_get(self, obj: str, rid: str) -> dict[str, Any]:
        if obj in ("associations", "subscriptions"):
            return super().admin_get(obj, rid)
        found = self.record(_admin_type(obj).name, rid)
        if found is None:
            raise HttpError(404, "OBJECT_NOT_FOUND", f"no {obj} {rid}")
        return found

    def admin_patch(self, obj: str, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        if obj == "subscriptions":
            return self._patch_subscription(rid, data)
        ot = _admin_type(obj)
        rec = self.store.get(ot, rid)
        if rec is None:
            raise HttpError(404, "OBJECT_NOT_FOUND", f"no {obj} {rid}")
        user = data.get("_userId")  # the HubSpot user making the edit (default 1)
        props = data.get(
            "properties", {k: v for k, v in data.items() if k not in ("archived", "_userId")}
        )
        if props:
            user_id = int(user) if user is not None else None
            self.store.update(rec, self._clean(ot, props, rec.id), UI, user_id)
        if data.get("archived") is True:
            self.store.archive(rec, UI)
        elif data.get("archived") is False:
            self.store.restore(rec, UI)
        return rec.admin_json()

    def admin_create(self, obj: str, data: dict[str, Any]) -> dict[str, Any]:
        if obj == "associations":
            return self._create_association(data)
        ot = _admin_type(obj)
        props = data.get("properties", data)
        return self.store.create(ot, self._clean(ot, props, None), UI).admin_json()

    def reset(self) -> None:
        """Back to a fresh portal: seeded properties and definitions, default knobs."""
        super().reset()
        self.store.reset()
        self.store.search_lag_s = self.default_search_lag_s
        self.commprefs.reset()
        self.lists.reset()
        self.commprefs.require_legal_basis = False
        self.limits.reset()
        self.webhook_api_changes = False

    def stop(self) -> None:
        super().stop()
        if self.webhooks is not None:
            self.webhooks.stop()

    def _clean(self, ot: ObjectType, props: Any, exclude: str | None) -> dict[str, str]:
        defs = self.store.properties[ot.name]
        analytics: dict[str, Any] = {}
        if isinstance(props, dict) and (ot.name == "contacts" or ot.read_only):
            # the email tool's counters and the survey tool's answers: read-only for apps,
            # set here as HubSpot itself would
            analytics = {k: v for k, v in props.items() if ot.read_only or k in EMAIL_ANALYTICS}
            props = {k: v for k, v in props.items() if k not in analytics}
        clean, details = normalize(ot, defs, props, blocklist=self.store.blocklist)
        if analytics:
            more, problems = normalize(ot, defs, analytics, allow_read_only=True)
            clean.update(more)
            details = [*details, *problems]
        if details:
            raise validation_error(details)
        clash = self.store.conflict(ot, clean, exclude)
        if clash is not None:
            raise clash
        return clean

    def _create_association(self, data: dict[str, Any]) -> dict[str, Any]:
        ft, tt = resolve_type(str(data["fromObjectType"])), resolve_type(str(data["toObjectType"]))
        fid, tid = str(data["fromObjectId"]), str(data["toObjectId"])
        pairs = association_types(ft, tt)
        if not pairs or self.store.get(ft, fid) is None or self.store.get(tt, tid) is None:
            raise HttpError(400, "VALIDATION_ERROR", "unknown objects or association pair")
        wanted = int(data.get("associationTypeId", pairs[0][0]))
        for fwd, rev, _label in pairs:
            if fwd in (wanted, pairs[0][0]):
                self.store.assoc.add(ft.name, fid, tt.name, tid, (fwd, rev))
        return {
            "fromObjectId": fid,
            "toObjectId": tid,
            "types": sorted(self.store.assoc.types(ft.name, fid, tt.name, tid)),
        }

    def _subscription_rows(self) -> list[dict[str, Any]]:
        prefs = self.commprefs
        rows = []
        for email in sorted(set(prefs.statuses) | set(prefs.opted_out)):
            states = {str(sid): prefs.state(email, sid) for sid in prefs.definitions}
            rows.append(
                {"id": email, "optedOutOfAll": email in prefs.opted_out, "statuses": states}
            )
        return rows

    def _patch_subscription(self, email: str, data: dict[str, Any]) -> dict[str, Any]:
        """A person changing their preferences in HubSpot: unsubscribeAll or one status."""
        prefs = self.commprefs
        addr = prefs.email(email)
        if data.get("unsubscribeAll"):
            prefs.unsubscribe_all(addr, source=UI)
        else:
            sid = prefs.subscription(data.get("subscriptionId"))
            state = str(data.get("statusState", "UNSUBSCRIBED"))
            prefs.set_state(
                addr,
                sid,
                state,
                data.get("legalBasis"),
                data.get("legalBasisExplanation"),
                source=UI,
            )
        return next(r for r in self._subscription_rows() if r["id"] == addr)


def _admin_type(obj: str) -> ObjectType:
    try:
        return resolve_type(obj)
    except HttpError as exc:
        raise HttpError(404, "OBJECT_NOT_FOUND", f"unknown object {obj}") from exc
