"""The daemon under its own load: a long consent run does not hold webhook-triggered runs back."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators import FaultPlan
from emulators.stack import EmulatorStack
from tests.daemon.conftest import B2SYNC, DaemonProcess, wait_for

STATUS_READ = "GET /communication-preferences/v4/statuses/{email}"
#: no batch status read on this portal (one call per contact), and each call is slow, so the
#: consent run's HubSpot read takes a while over a few hundred contacts
SLOW_CONSENT = {
    "rules": [
        {
            "match": "POST /communication-preferences/v4/statuses/batch/read",
            "kind": "status",
            "status": 403,
            "code": "MISSING_SCOPES",
        },
        {"match": STATUS_READ, "kind": "slow", "delay_s": 0.05},
    ]
}


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A daemon (not started) over a few hundred customers, backfilled by `run --once`."""
    with EmulatorStack(customers=300, seed=5) as stack:
        proc = DaemonProcess(stack, tmp_path)
        try:
            once = subprocess.run(
                [B2SYNC, "run", "--once", "--config", str(proc.config_path)],
                env=proc.env(), capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert once.returncode == 0, once.stderr[-2000:]
            yield proc
        finally:
            stack.b2connect.webhook_url = None
            proc.close()


def _consent_runs_finished(proc: DaemonProcess) -> int:
    return sum(1 for e in proc.events() if e.get("event") == "consent.run_finished")


def _first_name_in_hubspot(stack: EmulatorStack, key: str) -> str | None:
    for contact in stack.hubspot.admin_list("contacts"):
        props = contact.get("properties", {})
        if props.get("b2connect_id") == key:
            return props.get("firstname")
    return None


@pytest.mark.slow
def test_webhook_change_reaches_the_crm_while_the_consent_run_goes_on(
    shop: DaemonProcess,
) -> None:
    """A shopper edit's webhook run reaches HubSpot while the consent run is still reading
    HubSpot: the consent task holds the connection per batch, not for its whole run."""
    stack = shop.stack
    stack.hubspot.faults = FaultPlan.from_json(SLOW_CONSENT)
    shop.start()
    wait_for(lambda: stack.hubspot.calls[STATUS_READ] > 0, 60, "the consent run reading HubSpot")
    wait_for(shop.all_synced, 120, "the start-up runs")
    key = next(
        str(c["properties"]["b2connect_id"])
        for c in stack.hubspot.admin_list("contacts")
        if c.get("properties", {}).get("b2connect_id")
    )
    stack.b2connect.webhook_url = f"{shop.url}/webhooks/b2connect"
    stack.b2connect.admin_patch("customers", key, {"firstName": "Loadtest"})
    wait_for(lambda: _first_name_in_hubspot(stack, key) == "Loadtest", 120, "the webhook change")
    reads_when_visible = stack.hubspot.calls[STATUS_READ]
    finished_when_visible = _consent_runs_finished(shop)

    wait_for(lambda: _consent_runs_finished(shop) > 0, 300, "the consent run to finish")
    assert finished_when_visible == 0, "the change waited for the consent run to finish"
    assert stack.hubspot.calls[STATUS_READ] > reads_when_visible, (
        "the consent run kept reading HubSpot after the webhook change had landed"
    )
    assert not any(e.get("event") == "run.crashed" for e in shop.events())


@pytest.mark.slow
def test_sigterm_during_the_consent_run_stops_it_within_the_grace_period(
    shop: DaemonProcess,
) -> None:
    """SIGTERM while the consent run reads HubSpot: the run stops at its next chunk of facts
    and the process exits 0 within the grace period. Before, the consent task was not
    waited for: the daemon logged "daemon.stopped" and the process lived on until the whole
    consent run had finished (minutes on a big portal), past any supervisor's stop timeout."""
    stack = shop.stack
    stack.hubspot.faults = FaultPlan.from_json(SLOW_CONSENT)
    shop.start()
    wait_for(lambda: stack.hubspot.calls[STATUS_READ] > 0, 60, "the consent run reading HubSpot")
    assert _consent_runs_finished(shop) == 0
    shop.signal(signal.SIGTERM)
    assert shop.proc is not None
    assert shop.proc.wait(timeout=40) == 0  # the grace period is 20 s
    events = [e.get("event") for e in shop.events()]
    assert "consent.stopped" in events
    assert "daemon.stopped" in events and "daemon.grace_expired" not in events
    assert events.index("consent.stopped") < events.index("daemon.stopped")
    assert "consent.run_finished" not in events[events.index("daemon.stopped") :]
