"""Webhook checks and routing: signature, freshness, replay, and which pipelines are due.

Nothing here changes state before a signature verified; a replayed event id is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubspot.utils.signature import Signature

from connectors.b2connect import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook
from consent.erasure_sources import b2connect_webhook_erasures, hubspot_webhook_erasures
from mapping.config import B2ConnectConnection, Config, Direction, HubSpotConnection
from sync.service._scheduler import TASK_PREFIX
from sync.settings import SecretError, resolve

__all__ = [
    "EVENT_ID_HEADER",
    "HUBSPOT_SIGNATURE_HEADER",
    "HUBSPOT_TIMESTAMP_HEADER",
    "MAX_BODY_BYTES",
    "SeenEvents",
    "WebhookOutcome",
    "b2connect_delivery",
    "hubspot_delivery",
]

MAX_BODY_BYTES = 1024 * 1024
TOLERANCE_S = 300
EVENT_ID_HEADER = "X-B2Connect-Event-Id"
HUBSPOT_SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
HUBSPOT_TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
#: B2Connect event prefix -> stream
B2CONNECT_STREAMS = {
    "customer": "customers",
    "company": "companies",
    "order": "orders",
    "consent": "consents",
    "erasure": "erasures",
}
#: the consent sync's scheduler task, made due by consent and subscription changes
CONSENT_TASK = TASK_PREFIX + "consent"
#: HubSpot subscription prefix -> CRM object
HUBSPOT_OBJECTS = {
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "ticket": "tickets",
    "product": "products",
    "line_item": "line_items",
    "order": "orders",
}


@dataclass
class WebhookOutcome:
    """HTTP status, a short reason, and the pipelines to mark due."""

    status: int
    reason: str
    pipelines: list[str] = field(default_factory=list)
    #: erasure requests the delivery carried (``consent.erasure_sources.IntakeItem``)
    erasures: list[Any] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"status": self.reason, "pipelines": self.pipelines}


class SeenEvents:
    """Event ids accepted recently (kept ``ttl_s``, at most ``limit``), to refuse replays."""

    def __init__(self, ttl_s: float = 2 * TOLERANCE_S, limit: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, event_id: str, now: float) -> bool:
        """Remember ``event_id``; False if it was seen within the TTL."""
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if at > now - self.ttl_s and len(self._seen) < self.limit:
                    break
                del self._seen[oldest]
            if event_id in self._seen:
                return False
            self._seen[event_id] = now
            return True


def _secret(ref: str | None) -> str | None:
    if not ref:
        return None
    try:
        return resolve(ref) or None
    except SecretError:
        return None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def b2connect_delivery(
    config: Config, headers: Mapping[str, str], body: bytes, now: float, seen: SeenEvents
) -> WebhookOutcome:
    """Check one B2Connect delivery and name the pipelines it makes due."""
    verified: dict[str, B2ConnectConnection] = {}
    for name, conn in config.connections.items():
        if isinstance(conn, B2ConnectConnection):
            secret = _secret(conn.webhook_secret)
            stamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
            if secret and verify_webhook(secret, stamp, body, signature, now=now):
                verified[name] = conn
    if not verified:
        return WebhookOutcome(401, "bad signature")
    event = _json(body)
    if not isinstance(event, dict) or not isinstance(event.get("eventType"), str):
        return WebhookOutcome(400, "not a B2Connect event")
    event_id = headers.get(EVENT_ID_HEADER) or event.get("eventId")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 200:
        return WebhookOutcome(400, "missing event id")
    if not seen.first_time(f"b2connect:{event_id}", now):
        return WebhookOutcome(409, "replayed event")
    stream = B2CONNECT_STREAMS.get(event["eventType"].split(".", 1)[0])
    tenant = str(event.get("tenantId") or "").lower()
    names = [
        p.name
        for p in config.pipelines
        if p.enabled
        and p.b2connect.stream == stream
        and p.b2connect.connection in verified
        and _tenant_matches(verified[p.b2connect.connection], tenant)
    ]
    if config.consent is not None and stream == "consents":
        names.append(CONSENT_TASK)
    return WebhookOutcome(202, "accepted", names, b2connect_webhook_erasures(event))


def _tenant_matches(conn: B2ConnectConnection, tenant: str) -> bool:
    expected = _secret(conn.tenant_id)
    return not tenant or expected is None or expected.lower() == tenant


def hubspot_signature_ok(
    secret: str, method: str, uri: str, body: bytes, signature: str | None, stamp: str | None,
    now: float,
) -> bool:  # fmt: skip
    """HubSpot v3: base64 HMAC-SHA256 of method + URI + body + timestamp (ms), fresh."""
    if not signature or not stamp:
        return False
    try:
        sent_ms = int(stamp)
    except ValueError:
        return False
    if abs(now * 1000 - sent_ms) > TOLERANCE_S * 1000:
        return False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    expected = Signature.get_signature(
        secret, text, "v3", http_uri=uri, http_method=method, timestamp=stamp
    )
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def hubspot_delivery(
    config: Config,
    headers: Mapping[str, str],
    body: bytes,
    uri: str,
    now: float,
    seen: SeenEvents,
) -> WebhookOutcome:
    """Check one HubSpot delivery (a JSON list of events) and name the pipelines it makes due."""
    signature, stamp = headers.get(HUBSPOT_SIGNATURE_HEADER), headers.get(HUBSPOT_TIMESTAMP_HEADER)
    verified = {
        name
        for name, conn in config.connections.items()
        if isinstance(conn, HubSpotConnection)
        and (secret := _secret(conn.app_secret))
        and hubspot_signature_ok(secret, "POST", uri, body, signature, stamp, now)
    }
    if not verified:
        return WebhookOutcome(401, "bad signature")
    events = _json(body)
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return WebhookOutcome(400, "not a list of HubSpot events")
    fresh = [e for e in events if seen.first_time(f"hubspot:{_hubspot_id(e)}", now)]
    if events and not fresh:
        return WebhookOutcome(409, "replayed event")
    objects = {
        HUBSPOT_OBJECTS.get(str(e.get("subscriptionType", "")).split(".", 1)[0]) for e in fresh
    }
    names = [
        p.name
        for p in config.pipelines
        if p.enabled
        and p.crm.connection in verified
        and p.crm.object in objects
        and p.direction in (Direction.pull, Direction.both)
    ]
    if config.consent is not None and any(_subscription_change(e) for e in fresh):
        names.append(CONSENT_TASK)
    return WebhookOutcome(202, "accepted", names, hubspot_webhook_erasures(fresh))


def _subscription_change(event: dict[str, Any]) -> bool:
    """A contact's subscription status changed (HubSpot mirrors it in hs_email_optout*)."""
    return str(event.get("propertyName", "")).startswith("hs_email_optout")


def _hubspot_id(event: dict[str, Any]) -> str:
    event_id = event.get("eventId")
    if isinstance(event_id, int | str) and str(event_id):
        return str(event_id)
    raw = json.dumps(event, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()
