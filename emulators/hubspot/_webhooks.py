"""Outgoing webhooks: JSON-array batches of up to 100 events, v3 signatures, retries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from ._store import Record
from ._util import epoch_ms

BATCH = 100
#: statuses HubSpot does not retry
NO_RETRY = frozenset({400, 401, 403, 404, 405})


def sign_v3(secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    """``X-HubSpot-Signature-v3``: base64 HMAC-SHA256 of method + uri + body + timestamp."""
    digest = hmac.new(
        secret.encode(), f"{method}{uri}{body}{timestamp}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Delivery:
    """One POST attempt, kept for tests and the admin view."""

    attempt: int
    status: int | None
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


class WebhookSender:
    """Queues events and posts them from one background thread."""

    def __init__(
        self,
        url: str,
        *,
        app_secret: str,
        portal_id: int,
        app_id: int,
        clock: Callable[[], float],
        max_attempts: int = 4,
        retry_delay_s: float = 0.05,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.app_secret = app_secret
        self.portal_id = portal_id
        self.app_id = app_id
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.timeout_s = timeout_s
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._gate = threading.Event()
        self._gate.set()
        self._thread: threading.Thread | None = None
        self._next_event = 1_000_000
        self._subscriptions: dict[str, int] = {}
        self._lock = threading.Lock()

    # ---- producing (event loop thread)

    def emit(self, kind: str, rec: Record, changed: list[str], source: str) -> None:
        """Queue the events for one store change."""
        ot = rec.type
        base_type = f"{ot.webhook_prefix}.{kind}"
        common: dict[str, Any] = {
            "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": epoch_ms(self.clock()),
            "subscriptionType": base_type,
            "objectId": int(rec.id),
            "changeSource": source,
            "sourceId": _source_id(rec, changed, source, self.app_id),
        }
        if ot.webhook_prefix == "object":
            common["objectTypeId"] = ot.type_id
        events = []
        flags = {"creation": "CREATED", "deletion": "DELETED", "restore": "RESTORED"}
        if kind != "propertyChange":
            events.append({**common, "changeFlag": flags[kind]} if kind in flags else common)
        if kind in ("propertyChange", "creation"):
            changes = f"{ot.webhook_prefix}.propertyChange"
            events += [
                {
                    **common,
                    "subscriptionType": changes,
                    "propertyName": name,
                    "propertyValue": rec.properties.get(name, ""),
                }
                for name in changed
            ]
        with self._lock:  # one change's events travel together
            for event in events:
                self._put(event)
        self._ensure_thread()

    def _put(self, event: dict[str, Any]) -> None:
        self._next_event += 1
        sub = event["subscriptionType"] + ":" + str(event.get("propertyName", ""))
        sub_id = self._subscriptions.setdefault(sub, 200_000 + len(self._subscriptions))
        self._queue.put({"eventId": self._next_event, "subscriptionId": sub_id, **event})

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="hubspot-webhooks", daemon=True)
            self._thread.start()

    # ---- delivering (sender thread)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued event was delivered or given up on."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout_s)

    def hold(self) -> None:
        """Keep queued events back (they go out in full batches after :meth:`release`)."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        session = requests.Session()
        try:
            while not self._stop.is_set():
                if not self._gate.wait(0.1):
                    continue
                try:
                    first = self._queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                batch = [first]
                with self._lock:
                    while len(batch) < BATCH:
                        try:
                            batch.append(self._queue.get_nowait())
                        except queue.Empty:
                            break
                try:
                    self._deliver(session, batch)
                finally:
                    for _ in batch:
                        self._queue.task_done()
        finally:
            session.close()

    def _deliver(self, session: requests.Session, batch: list[dict[str, Any]]) -> None:
        for attempt in range(self.max_attempts):
            events = [{**e, "attemptNumber": attempt} for e in batch]
            body = json.dumps(events, separators=(",", ":"))
            timestamp = str(epoch_ms(self.clock()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) (emulator)",
                "X-HubSpot-Signature-v3": sign_v3(
                    self.app_secret, "POST", self.url, body, timestamp
                ),
                "X-HubSpot-Signature-Version": "v3",
                "X-HubSpot-Request-Timestamp": timestamp,
            }
            status: int | None = None
            try:
                resp = session.post(
                    self.url, data=body.encode(), headers=headers, timeout=self.timeout_s
                )
                status = resp.status_code
                error = None
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.deliveries.append(Delivery(attempt, status, events, error))
            if status is not None and (status < 300 or status in NO_RETRY):
                return
            if self._stop.wait(self.retry_delay_s * (attempt + 1)):
                return


def _source_id(rec: Record, changed: list[str], source: str, app_id: int) -> str:
    """The change's ``sourceId`` as the property history recorded it (``userId:N`` for the
    user who made a ``CRM_UI`` change), else the app's id."""
    for name in changed:
        entries = rec.history.get(name) or []
        if entries and entries[0].get("sourceId"):
            return str(entries[0]["sourceId"])
    return "userId:1" if source == "CRM_UI" else str(app_id)
