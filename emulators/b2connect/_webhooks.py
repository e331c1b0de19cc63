"""Signed outgoing webhooks, delivered by one background thread with a few retries.

Body ``{eventId, eventType, tenantId, occurredAt, data}``; headers ``X-B2Connect-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``, ``X-B2Connect-Timestamp`` (unix seconds,
signed anew on each attempt) and ``X-B2Connect-Event-Id`` (the same on every attempt).
"""

from __future__ import annotations

import hashlib
import hmac
import queue
import threading
from collections.abc import Callable
from typing import Any

import requests

from emulators.b2connect._common import dumps, new_id, now_iso

_STOP = object()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-B2Connect-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSender:
    """Queue of events to POST to ``url``; ``deliveries`` records every outcome."""

    def __init__(
        self,
        secret: str,
        clock: Callable[[], float],
        url: str | None = None,
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
    ) -> None:
        self.secret = secret
        self.clock = clock
        self.url = url
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.deliveries: list[dict[str, Any]] = []
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def enqueue(self, event_type: str, tenant: str, data: dict[str, Any]) -> None:
        """Queue one event (dropped when no URL is configured)."""
        if not self.url:
            return
        event = {
            "eventId": new_id(),
            "eventType": event_type,
            "tenantId": tenant,
            "occurredAt": now_iso(self.clock),
            "data": data,
        }
        self._ensure_thread()
        self._queue.put((self.url, event))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event was delivered or given up; False on timeout."""
        done = self._queue.all_tasks_done
        with done:
            return done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def stop(self) -> None:
        """Stop the sender thread; undelivered events are dropped."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        self._queue.put(_STOP)
        thread.join(timeout=10)
        self._stop = threading.Event()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, args=(self._stop,), name="b2connect-webhooks", daemon=True
                )
                self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if not stop.is_set():
                    self._deliver(*item, stop=stop)
            finally:
                self._queue.task_done()

    def _deliver(self, url: str, event: dict[str, Any], *, stop: threading.Event) -> None:
        body = dumps(event).encode()
        record: dict[str, Any] = {
            "eventId": event["eventId"],
            "eventType": event["eventType"],
            "url": url,
            "attempts": 0,
            "status": None,
            "delivered": False,
            "error": None,
        }
        for attempt in range(1, self.attempts + 1):
            record["attempts"] = attempt
            timestamp = str(int(self.clock()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "B2Connect-Webhooks/1.0",
                "X-B2Connect-Event-Id": event["eventId"],
                "X-B2Connect-Timestamp": timestamp,
                "X-B2Connect-Signature": sign(self.secret, timestamp, body),
            }
            try:
                resp = requests.post(url, data=body, headers=headers, timeout=self.timeout_s)
                record["status"] = resp.status_code
                record["error"] = None
                if 200 <= resp.status_code < 300:
                    record["delivered"] = True
                    break
            except requests.RequestException as exc:
                record["error"] = type(exc).__name__
            if stop.wait(self.backoff_s * 2 ** (attempt - 1)):
                break
        self.deliveries.append(record)
