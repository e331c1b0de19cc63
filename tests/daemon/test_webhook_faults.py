"""Nothing a webhook handed over (2xx) is lost or applied twice when the daemon is
killed with SIGKILL — once right after a burst, and in a loop of random kills under load."""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.daemon.conftest import DaemonProcess, wait_for
from tests.e2e.conftest import by_key

ROUNDS = 6


def _erasure_event(ref: str) -> dict[str, Any]:
    data = {"id": ref, "email": f"{ref}@example.com", "status": "pending", "origin": "b2connect"}
    return {"eventId": f"evt-{ref}", "eventType": "erasure.requested", "tenantId": "",
            "occurredAt": "2026-12-06T20:00:00Z", "data": data}  # fmt: skip


def _deliver(daemon: DaemonProcess, ref: str, stop: threading.Event) -> bool:
    """Deliver one erasure request as B2Connect does: retry (re-signed) until a 2xx."""
    event = _erasure_event(ref)
    while not stop.is_set():
        body, headers = daemon.signed_b2connect(event, event_id=str(uuid.uuid4()))
        try:
            answer = daemon.post_raw("/webhooks/b2connect", body, headers)
        except requests.RequestException:
            answer = None
        if answer is not None and 200 <= answer.status_code < 300:
            return True
        stop.wait(0.1)
    return False


def _filed(daemon: DaemonProcess) -> list[str]:
    """Shop references of every request this test filed (duplicates included; the shop's own
    seeded requests, read from its feed, left out)."""
    with daemon.db.connect() as conn:
        rows = conn.execute(sa.text("SELECT external_ref FROM erasure_subjects"))
        refs = [str(r.external_ref) for r in rows if r.external_ref]
    return [ref for ref in refs if ref.startswith(("burst-", "load-"))]


def _inbox(daemon: DaemonProcess) -> int:
    with daemon.db.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM erasure_inbox")).scalar_one())


def _all_filed_once(daemon: DaemonProcess, accepted: list[str]) -> bool:
    filed = _filed(daemon)
    return all(filed.count(ref) == 1 for ref in accepted)


def _kill(daemon: DaemonProcess) -> None:
    assert daemon.proc is not None
    daemon.proc.kill()
    daemon.proc.wait()


def test_erasures_accepted_just_before_a_kill_are_filed_after_restart(
    daemon: DaemonProcess,
) -> None:
    """A burst of erasure webhooks, each answered 202, then SIGKILL at once: after the restart
    every request is filed exactly once."""
    stop = threading.Event()
    accepted = [f"burst-{i}-{uuid.uuid4().hex[:6]}" for i in range(12)]
    for ref in accepted:
        assert _deliver(daemon, ref, stop)
    _kill(daemon)
    daemon.start()
    wait_for(lambda: _all_filed_once(daemon, accepted), 60, "every accepted request filed")
    assert sorted(_filed(daemon)) == sorted(accepted)
    assert _inbox(daemon) == 0


class _Load:
    """Erasure webhooks posted one after another from a thread, counted when answered 2xx."""

    def __init__(self, daemon: DaemonProcess) -> None:
        self.daemon = daemon
        self.accepted: list[str] = []
        self.sent: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            ref = f"load-{uuid.uuid4().hex[:10]}"
            self.sent.append(ref)
            if _deliver(self.daemon, ref, self.stop):
                self.accepted.append(ref)
            self.stop.wait(0.2)  # a busy shop, not a flood


def _names(daemon: DaemonProcess, key: str) -> tuple[Any, Any]:
    hubspot = by_key(daemon.stack.hubspot.admin_list("contacts"), "b2connect_id").get(key)
    salesforce = by_key(daemon.stack.salesforce.admin_list("Contact"), "B2Connect_Id__c").get(key)
    return (
        hubspot[0]["properties"].get("firstname") if hubspot else None,
        salesforce[0].get("FirstName") if salesforce else None,
    )


@pytest.mark.slow
def test_random_kills_under_webhook_load_lose_nothing(daemon: DaemonProcess) -> None:
    """Kill -9 at random moments while erasure webhooks, customer-edit webhooks, scheduled
    runs and erasure steps are in flight: after the last restart every accepted request is
    filed exactly once, and the last shop edits reach both CRMs."""
    rng = random.Random(15)
    erased = {e.get("subjectId") for e in daemon.stack.b2connect.admin_list("erasures")}
    shop = daemon.stack.b2connect.admin_list("customers")
    customers = [c["id"] for c in shop if c["id"] not in erased][:5]
    load = _Load(daemon)
    load.thread.start()
    try:
        for round_no in range(ROUNDS):
            for key in customers:
                daemon.stack.b2connect.admin_patch(
                    "customers", key, {"firstName": f"Kill{round_no}"}
                )
            time.sleep(rng.uniform(0.3, 2.5))
            if round_no == ROUNDS - 1:  # the last kill catches the final requests in flight
                load.stop.set()
                load.thread.join(timeout=30)
            _kill(daemon)
            daemon.start()
    finally:
        load.stop.set()
        load.thread.join(timeout=30)
    accepted = list(load.accepted)
    assert len(accepted) >= ROUNDS
    wait_for(lambda: _all_filed_once(daemon, accepted), 90, "every accepted request filed once")
    filed = _filed(daemon)
    assert len(filed) == len(set(filed)), "a request was filed twice"
    assert _inbox(daemon) == 0
    assert set(filed) <= set(load.sent)
    last = f"Kill{ROUNDS - 1}"
    for key in customers:
        wait_for(lambda k=key: _names(daemon, k) == (last, last), 90, "the last edits")
