"""Consent and subscription-change webhooks make the consent sync due."""

from __future__ import annotations

import json

import pytest
from hubspot.utils.signature import Signature

from b2sync.service import CONSENT_TASK, SeenEvents, b2connect_delivery, hubspot_delivery
from connectors.b2connect import sign_webhook
from mapping.config import Config, parse_config
from tests.daemon.conftest import daemon_config_text

NOW = 1_790_000_000.0
TENANT = "11111111-2222-3333-4444-555555555555"
URI = "https://sync.example/webhooks/hubspot"


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("B2SYNC_B2CONNECT_WEBHOOK_SECRET", "b2")
    monkeypatch.setenv("B2SYNC_HUBSPOT_APP_SECRET", "hs")
    monkeypatch.setenv("B2SYNC_B2CONNECT_TENANT_ID", TENANT)
    return parse_config(daemon_config_text(), "config.yaml")


def b2connect(config: Config, kind: str) -> list[str]:
    body = json.dumps({"eventType": kind, "tenantId": TENANT, "data": {}}).encode()
    stamp = str(int(NOW))
    headers = {
        "X-B2Connect-Timestamp": stamp,
        "X-B2Connect-Signature": sign_webhook("b2", stamp, body),
        "X-B2Connect-Event-Id": "e-1",
    }
    outcome = b2connect_delivery(config, headers, body, NOW, SeenEvents())
    assert outcome.status == 202
    return outcome.pipelines


def hubspot(config: Config, prop: str) -> list[str]:
    event = {"eventId": 9, "subscriptionType": "contact.propertyChange", "propertyName": prop}
    body = json.dumps([event]).encode()
    stamp = str(int(NOW * 1000))
    sig = Signature.get_signature("hs", body.decode(), "v3", http_uri=URI, timestamp=stamp)
    headers = {"X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": stamp}
    outcome = hubspot_delivery(config, headers, body, URI, NOW, SeenEvents())
    assert outcome.status == 202
    return outcome.pipelines


def test_a_b2connect_consent_event_makes_the_consent_sync_due(config: Config) -> None:
    """``consent.changed`` from B2Connect schedules the consent sync soon."""
    assert CONSENT_TASK in b2connect(config, "consent.changed")


def test_a_hubspot_subscription_change_makes_the_consent_sync_due(config: Config) -> None:
    """A change of an hs_email_optout property (a subscription change) schedules it too."""
    assert CONSENT_TASK in hubspot(config, "hs_email_optout_101")


def test_other_changes_leave_the_consent_sync_alone(config: Config) -> None:
    """Customer events and other contact properties do not."""
    assert CONSENT_TASK not in b2connect(config, "customer.updated")
    assert CONSENT_TASK not in hubspot(config, "firstname")


def test_without_a_consent_section_nothing_is_scheduled(config: Config) -> None:
    """A config without consent: never names the consent task."""
    plain = config.model_copy(update={"consent": None})
    assert CONSENT_TASK not in b2connect(plain, "consent.changed")
