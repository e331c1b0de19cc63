"""Webhook checks and routing: signature, freshness, replay, tenant, and which pipelines are due.

Nothing here changes state before a signature verified. The tenant and the connection come from
the secret that verified (or the connection named in the URL), never from the payload: a payload
naming another tenant (B2Connect ``tenantId``) or portal (HubSpot ``portalId``) is refused.
Replays are recognised by signed content only (the signature, which covers the timestamp, and
the event ids inside the signed body), through a :class:`Ledger` that keeps them past restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from hubspot.utils.signature import Signature

from b2sync.service._scheduler import TASK_PREFIX
from b2sync.service._webhook_ledger import (
    EVENT_TTL_S,
    SIGNATURE_TTL_S,
    TOLERANCE_S,
    Ledger,
    Receipt,
    SeenEvents,
    WebhookOutcome,
    digest,
    resolved,
)
from connectors.b2connect import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook
from consent.erasure.sources import IntakeItem, b2connect_webhook_erasures, hubspot_webhook_erasures
from mapping.config import B2ConnectConnection, Config, Direction, HubSpotConnection

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
#: informational only (unsigned): never used to recognise a replay
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


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _stale(stamp: str | None, now: float, unit: float = 1.0) -> bool:
    """True when the sender's timestamp is missing, malformed or outside the window."""
    try:
        sent = int(str(stamp).strip()) / unit
    except ValueError:
        return True
    return abs(now - sent) > TOLERANCE_S


def _named(config: Config, connection: str | None, kind: type[Any]) -> dict[str, Any]:
    return {
        name: conn
        for name, conn in config.connections.items()
        if isinstance(conn, kind) and (connection is None or name == connection)
    }


def b2connect_delivery(
    config: Config,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    seen: Ledger,
    connection: str | None = None,
) -> WebhookOutcome:
    """Check one B2Connect delivery (to ``/webhooks/b2connect[/<connection>]``) and name the
    pipelines it makes due; the tenant is the one of the connection whose secret verified."""
    candidates = _named(config, connection, B2ConnectConnection)
    if connection is not None and not candidates:
        return WebhookOutcome(404, "no such B2Connect connection")
    stamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
    if _stale(stamp, now):
        return WebhookOutcome(401, "stale or missing timestamp")
    verified = {
        name: conn
        for name, conn in candidates.items()
        if (secret := resolved(conn.webhook_secret))
        and verify_webhook(secret, stamp, body, signature, now=now, tolerance_s=TOLERANCE_S)
    }
    if not verified:
        return WebhookOutcome(401, "bad signature")
    tenants = {(resolved(c.tenant_id) or "").strip().lower() for c in verified.values()}
    tenant = next(iter(tenants))
    if len(tenants) != 1 or not tenant:
        return WebhookOutcome(403, "the secret is not one tenant's: use /webhooks/b2connect/<name>")
    event = _json(body)
    if not isinstance(event, dict) or not isinstance(event.get("eventType"), str):
        return WebhookOutcome(400, "not a B2Connect event")
    where = {"tenant": tenant, "connection": ",".join(sorted(verified))}
    claimed = _claimed_tenant(event)
    if claimed is not None and claimed != tenant:
        return WebhookOutcome(403, "tenant mismatch", refused={**where, "claimed": claimed[:64]})
    receipts = [Receipt(digest("b2connect-sig", str(signature).strip().lower()), SIGNATURE_TTL_S)]
    if isinstance(event.get("eventId"), str | int) and str(event["eventId"]):
        receipts.append(
            Receipt(digest("b2connect-event", tenant, str(event["eventId"])), EVENT_TTL_S)
        )
    stream = B2CONNECT_STREAMS.get(event["eventType"].split(".", 1)[0])
    names = [
        p.name
        for p in config.pipelines
        if p.enabled and p.b2connect.stream == stream and p.b2connect.connection in verified
    ]
    if config.consent is not None and stream == "consents":
        names.append(CONSENT_TASK)
    erasures = [_in_tenant(i, tenant) for i in b2connect_webhook_erasures(event)]
    data = event.get("data")
    record = data.get("id") if isinstance(data, dict) else None
    keys = [str(record)] if isinstance(record, str | int) and str(record) else []
    outcome = WebhookOutcome(202, "accepted", names, erasures, keys=keys)
    return _admit(seen, "b2connect", receipts, outcome)


def _claimed_tenant(event: dict[str, Any]) -> str | None:
    """The tenant the payload names (top level or in ``data``), lower-case, if any."""
    data = event.get("data")
    value = event.get("tenantId") or (data.get("tenantId") if isinstance(data, dict) else None)
    return str(value).strip().lower() or None if value not in (None, "") else None


def _in_tenant(item: IntakeItem, tenant: str) -> IntakeItem:
    """The item filed for the authenticated tenant (None: the only one configured)."""
    return IntakeItem(item.ids, item.origin, tenant or None, item.external_ref, item.requested_at)


def _admit(
    seen: Ledger, source: str, receipts: Sequence[Receipt], outcome: WebhookOutcome
) -> WebhookOutcome:
    """Record the delivery (and its erasures) once. A replayed delivery (same signature) is
    refused with 409; a sender's retry of events already received (newly signed) gets 200 and
    changes nothing."""
    known = seen.known([r.key for r in receipts])
    if receipts[0].key in known:
        return WebhookOutcome(409, "replayed delivery")
    if len(receipts) > 1 and all(r.key in known for r in receipts[1:]):
        return WebhookOutcome(200, "duplicate event: already received")
    fresh = [r for r in receipts if r.key not in known]
    if not seen.admit(source, fresh, outcome.erasures):
        return WebhookOutcome(409, "replayed delivery")
    return outcome


def hubspot_signature_ok(
    secret: str, method: str, uri: str, body: bytes, signature: str | None, stamp: str | None,
    now: float,
) -> bool:  # fmt: skip
    """HubSpot v3: base64 HMAC-SHA256 of method + URI + body + timestamp (ms), fresh."""
    if not signature or not stamp or _stale(stamp, now, unit=1000.0):
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
    seen: Ledger,
    connection: str | None = None,
) -> WebhookOutcome:
    """Check one HubSpot delivery (a JSON list of events) and name the pipelines it makes due;
    each event belongs to the verified connection of its ``portalId``."""
    candidates = _named(config, connection, HubSpotConnection)
    if connection is not None and not candidates:
        return WebhookOutcome(404, "no such HubSpot connection")
    signature, stamp = headers.get(HUBSPOT_SIGNATURE_HEADER), headers.get(HUBSPOT_TIMESTAMP_HEADER)
    if _stale(stamp, now, unit=1000.0):
        return WebhookOutcome(401, "stale or missing timestamp")
    verified: dict[str, HubSpotConnection] = {
        name: conn
        for name, conn in candidates.items()
        if (secret := resolved(conn.app_secret))
        and hubspot_signature_ok(secret, "POST", uri, body, signature, stamp, now)
    }
    if not verified:
        return WebhookOutcome(401, "bad signature")
    events = _json(body)
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return WebhookOutcome(400, "not a list of HubSpot events")
    owners = [_owners(verified, e) for e in events]
    if any(not names for names in owners):
        portals = sorted(
            {str(e.get("portalId"))[:32] for e, o in zip(events, owners, strict=True) if not o}
        )
        where = {"connection": ",".join(sorted(verified)), "claimed": ",".join(portals)}
        return WebhookOutcome(
            403, "portal mismatch", refused={**where, "tenant": _hubspot_tenant(config, verified)}
        )
    keys = [
        digest("hubspot-event", ",".join(o), _hubspot_id(e))
        for e, o in zip(events, owners, strict=True)
    ]
    known = seen.known(keys)
    fresh = [(e, o) for e, o, k in zip(events, owners, keys, strict=True) if k not in known]
    receipts = [Receipt(digest("hubspot-sig", str(signature).strip()), SIGNATURE_TTL_S)]
    receipts += [Receipt(k, EVENT_TTL_S) for k in keys]
    names = _hubspot_pipelines(config, fresh)
    if config.consent is not None and any(_subscription_change(e) for e, _ in fresh):
        names.append(CONSENT_TASK)
    erasures = [
        _in_tenant(item, _hubspot_tenant(config, owner))
        for event, owner in fresh
        for item in hubspot_webhook_erasures([event])
    ]
    return _admit(seen, "hubspot", receipts, WebhookOutcome(202, "accepted", names, erasures))


def _owners(verified: Mapping[str, HubSpotConnection], event: dict[str, Any]) -> list[str]:
    """The verified connections an event belongs to: those of its portal (or of no set one)."""
    portal = str(event.get("portalId") or "").strip()
    return sorted(
        name
        for name, conn in verified.items()
        if (expected := resolved(conn.portal_id)) is None or expected.strip() == portal
    )


def _hubspot_tenant(config: Config, hubspot: Sequence[str] | Mapping[str, Any]) -> str:
    """The B2Connect tenant the HubSpot connections sync with ('' when not exactly one)."""
    shops = {p.b2connect.connection for p in config.pipelines if p.crm.connection in hubspot}
    tenants = {
        (resolved(conn.tenant_id) or "").lower()
        for name, conn in config.connections.items()
        if isinstance(conn, B2ConnectConnection) and name in shops
    }
    return next(iter(tenants)) if len(tenants) == 1 else ""


def _hubspot_pipelines(
    config: Config, fresh: Sequence[tuple[dict[str, Any], list[str]]]
) -> list[str]:
    wanted = {
        (conn, HUBSPOT_OBJECTS.get(str(e.get("subscriptionType", "")).split(".", 1)[0]))
        for e, owners in fresh
        for conn in owners
    }
    return [
        p.name
        for p in config.pipelines
        if p.enabled
        and (p.crm.connection, p.crm.object) in wanted
        and p.direction in (Direction.pull, Direction.both)
    ]


def _subscription_change(event: dict[str, Any]) -> bool:
    """A contact's subscription status changed (HubSpot mirrors it in hs_email_optout*)."""
    return str(event.get("propertyName", "")).startswith("hs_email_optout")


def _hubspot_id(event: dict[str, Any]) -> str:
    event_id = event.get("eventId")
    if isinstance(event_id, int | str) and str(event_id):
        return str(event_id)
    raw = json.dumps(event, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()
