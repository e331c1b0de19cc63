"""Where erasure requests come from besides the CLI: webhooks and polled feeds.

* B2Connect: ``erasure.requested`` webhooks and the erasures delta feed (requests of origin
  ``b2connect``; our own ``crm``-origin requests are skipped);
* HubSpot: ``contact.privacyDeletion`` webhooks (the contact is already gone in HubSpot);
* Salesforce: ``Individual.ShouldForget = true`` (a marker Salesforce does not act on),
  polled with a cursor; the Individual's Contacts are the people to erase.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from connectors.errors import ConnectorError
from consent.erasure.intake import ErasureDesk, Intake
from consent.erasure.model import Origin, SubjectIds
from mapping.config import B2ConnectConnection, SalesforceConnection
from store import begin_write
from store.models import Side
from sync import state
from sync.runner import Runner

__all__ = [
    "IntakeItem",
    "b2connect_webhook_erasures",
    "file_all",
    "hubspot_webhook_erasures",
    "poll_sources",
]

log = structlog.get_logger(__name__)
_B2CONNECT_EVENTS = frozenset({"erasure.requested", "ErasureRequested"})
_HUBSPOT_EVENTS = frozenset({"contact.privacyDeletion"})
_LIVE = frozenset({"pending", "processing"})


@dataclass(frozen=True)
class IntakeItem:
    """One erasure request as a source delivered it."""

    ids: SubjectIds
    origin: Origin
    tenant: str | None = None
    external_ref: str | None = None
    #: when the person asked (the requester's own time), if it says
    requested_at: datetime | None = None


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value not in (None, "") else None


def _shop_request(data: Mapping[str, Any], tenant: Any) -> IntakeItem | None:
    if str(data.get("origin") or "b2connect") != "b2connect":
        return None  # a request b2sync itself filed on behalf of a CRM
    if str(data.get("status") or "pending") not in _LIVE:
        return None
    ids = SubjectIds(email=_text(data.get("email")), customer_id=_text(data.get("subjectId")))
    if ids.empty:
        return None
    asked = _when(data.get("requestedAt"))
    return IntakeItem(ids, Origin.B2CONNECT, _text(tenant), _text(data.get("id")), asked)


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def b2connect_webhook_erasures(event: Mapping[str, Any]) -> list[IntakeItem]:
    """The erasure request a (verified) B2Connect webhook carries, if any."""
    if event.get("eventType") not in _B2CONNECT_EVENTS:
        return []
    data = event.get("data")
    if not isinstance(data, Mapping):
        return []
    item = _shop_request(data, event.get("tenantId") or data.get("tenantId"))
    return [] if item is None else [item]


def hubspot_webhook_erasures(events: Iterable[Mapping[str, Any]]) -> list[IntakeItem]:
    """Requests from (verified) HubSpot ``contact.privacyDeletion`` events."""
    out = []
    for event in events:
        if event.get("subscriptionType") in _HUBSPOT_EVENTS and _text(event.get("objectId")):
            ids = SubjectIds(crm_ids={"hubspot": str(event["objectId"])})
            out.append(IntakeItem(ids, Origin.HUBSPOT))
    return out


def file_all(desk: ErasureDesk, items: Iterable[IntakeItem]) -> list[Intake]:
    """File each item; problems are logged with their status, never raised."""
    out = []
    for item in items:
        intake = desk.file(
            item.ids,
            tenant=item.tenant,
            origin=item.origin,
            external_ref=item.external_ref,
            requested_at=item.requested_at,
        )
        if not intake.ok:
            log.warning("erasure.intake_refused", origin=item.origin.value, status=intake.status)
        out.append(intake)
    return out


def poll_sources(runner: Runner, desk: ErasureDesk) -> list[Intake]:
    """Read the B2Connect erasure feeds and Salesforce's forget flags; file what is new (the
    runner's connectors hold their connection per page, not for the whole feed)."""
    filed: list[Intake] = []
    for name, conn_cfg in runner.config.connections.items():
        try:
            if isinstance(conn_cfg, B2ConnectConnection) and conn_cfg.mode == "delta":
                filed.extend(_poll(runner, desk, name, "erasures", Side.B2CONNECT, _shop_items))
            elif isinstance(conn_cfg, SalesforceConnection):
                filed.extend(_poll(runner, desk, name, "Individual", Side.CRM, _forget_items))
        except ConnectorError as exc:
            log.warning("erasure.poll_failed", connection=name, code=exc.code, error=exc.message)
    return filed


def _shop_items(runner: Runner, name: str, records: list[Any]) -> list[IntakeItem]:
    del runner, name
    latest = {record.key: record for record in records}  # a request's last change counts
    items = []
    for record in latest.values():
        if record.deleted:
            continue
        item = _shop_request({**record.fields, "id": record.key}, record.tenant_id)
        if item is not None:
            items.append(item)
    return items


def _forget_items(runner: Runner, name: str, records: list[Any]) -> list[IntakeItem]:
    flagged = [r.key for r in records if not r.deleted and r.fields.get("ShouldForget") is True]
    if not flagged:
        return []
    contacts = runner.connector(name).lookup("Contact", "IndividualId", flagged)
    return [
        IntakeItem(SubjectIds(crm_ids={"salesforce": cid}), Origin.SALESFORCE)
        for ids in contacts.values()
        for cid in ids
    ]


def _poll(
    runner: Runner,
    desk: ErasureDesk,
    name: str,
    stream: str,
    side: Side,
    parse: Any,
) -> list[Intake]:
    """Read one feed from its cursor, then file what it held; the cursor moves once the
    requests are filed."""
    key = f"erasure-intake:{name}"
    with runner.db.connect() as conn:
        cursor = state.get_cursor(conn, key, stream, side)
    items: list[IntakeItem] = []
    last = cursor
    for page in runner.connector(name).read_changes(stream, cursor):
        items.extend(parse(runner, name, list(page.records)))
        last = page.cursor
    filed = file_all(desk, items)
    if last != cursor:
        with begin_write(runner.db) as conn:
            state.set_cursor(conn, key, stream, side, last, runner.clock())
    return filed
