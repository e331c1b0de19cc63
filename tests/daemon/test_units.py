"""In-process checks of webhook verification, replay memory and the HTTP app's routing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hubspot.utils.signature import Signature
from typer.testing import CliRunner

from b2sync.cli import app
from b2sync.service import (
    Receipt,
    SeenEvents,
    b2connect_delivery,
    build_app,
    hubspot_delivery,
    hubspot_signature_ok,
)
from connectors.b2connect import sign_webhook
from mapping.config import Config, Direction, parse_config
from tests.daemon.conftest import daemon_config_text
from tests.daemon.fake_service import FakeService
from tests.e2e.conftest import ROOT

NOW = 1_790_000_000.0
B2_SECRET = "b2-secret"
HS_SECRET = "hs-secret"
TENANT = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> Config:
    """The shipped config with webhook secrets set in the environment."""
    monkeypatch.setenv("B2SYNC_B2CONNECT_WEBHOOK_SECRET", B2_SECRET)
    monkeypatch.setenv("B2SYNC_HUBSPOT_APP_SECRET", HS_SECRET)
    monkeypatch.setenv("B2SYNC_B2CONNECT_TENANT_ID", TENANT)
    return parse_config(daemon_config_text(), "config.yaml")


def _b2_headers(body: bytes, event_id: str = "e-1", at: float = NOW) -> dict[str, str]:
    stamp = str(int(at))
    return {
        "X-B2Connect-Timestamp": stamp,
        "X-B2Connect-Signature": sign_webhook(B2_SECRET, stamp, body),
        "X-B2Connect-Event-Id": event_id,
    }


def _event(kind: str, tenant: str = TENANT) -> bytes:
    return json.dumps({"eventType": kind, "tenantId": tenant, "data": {}}).encode()


def test_seen_events_refuse_a_replay_until_expiry() -> None:
    """A receipt is admitted once, refused within its TTL, and forgotten after it."""
    clock = [NOW]
    seen = SeenEvents(lambda: clock[0])
    assert seen.admit("b2connect", [Receipt("a", 600)], [])
    clock[0] = NOW + 10
    assert not seen.admit("b2connect", [Receipt("a", 600)], [])
    assert seen.known(["a", "b"]) == {"a"}
    clock[0] = NOW + 700
    assert seen.admit("b2connect", [Receipt("a", 600)], [])


def test_b2connect_event_marks_pipelines_of_its_stream(config: Config) -> None:
    """customer.updated makes both customer pipelines due."""
    body = _event("customer.updated")
    outcome = b2connect_delivery(config, _b2_headers(body), body, NOW, SeenEvents())
    assert outcome.status == 202
    assert outcome.pipelines == ["customers-to-hubspot", "customers-to-salesforce"]


def test_b2connect_stale_timestamp_is_unauthorized(config: Config) -> None:
    """A correctly signed delivery older than five minutes is refused with 401."""
    body = _event("customer.updated")
    headers = _b2_headers(body, at=NOW - 301)
    assert b2connect_delivery(config, headers, body, NOW, SeenEvents()).status == 401


def test_b2connect_other_tenant_is_refused(config: Config) -> None:
    """An event naming another tenant than the secret's connection is refused (403)."""
    body = _event("order.created", tenant="99999999-2222-3333-4444-555555555555")
    outcome = b2connect_delivery(config, _b2_headers(body), body, NOW, SeenEvents())
    assert (outcome.status, outcome.pipelines) == (403, [])
    assert outcome.refused is not None and outcome.refused["tenant"] == TENANT


def test_b2connect_signed_garbage_is_a_bad_request(config: Config) -> None:
    """A validly signed body that is not an event object is 400."""
    body = b"[1, 2"
    assert b2connect_delivery(config, _b2_headers(body), body, NOW, SeenEvents()).status == 400


def _hs_headers(uri: str, body: bytes, at_ms: int) -> dict[str, str]:
    signature = Signature.get_signature(
        HS_SECRET, body.decode(), "v3", http_uri=uri, http_method="POST", timestamp=str(at_ms)
    )
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": str(at_ms)}


def test_hubspot_v3_signature_checks_body_and_freshness() -> None:
    """The v3 signature holds for the signed body only, and only within five minutes."""
    uri, body = "https://sync.example/webhooks/hubspot", b'[{"eventId": 1}]'
    headers = _hs_headers(uri, body, int(NOW * 1000))
    sig, stamp = headers["X-HubSpot-Signature-v3"], headers["X-HubSpot-Request-Timestamp"]
    assert hubspot_signature_ok(HS_SECRET, "POST", uri, body, sig, stamp, NOW)
    assert not hubspot_signature_ok(HS_SECRET, "POST", uri, b"[]", sig, stamp, NOW)
    assert not hubspot_signature_ok(HS_SECRET, "POST", uri, body, sig, stamp, NOW + 301)


def test_hubspot_event_without_pull_pipelines_marks_nothing(config: Config) -> None:
    """A signed HubSpot contact event is 202; push-only pipelines are not made due."""
    push_only = config.model_copy(
        update={
            "pipelines": [
                p.model_copy(update={"direction": Direction.push}) for p in config.pipelines
            ]
        }
    )
    uri = "https://sync.example/webhooks/hubspot"
    body = json.dumps([{"eventId": 7, "subscriptionType": "contact.propertyChange"}]).encode()
    outcome = hubspot_delivery(
        push_only, _hs_headers(uri, body, int(NOW * 1000)), body, uri, NOW, SeenEvents()
    )
    assert (outcome.status, outcome.pipelines) == (202, [])


def test_hubspot_contact_event_makes_the_two_way_pipeline_due(config: Config) -> None:
    """The shipped customers↔contacts pipeline pulls: a contact change makes it due."""
    uri = "https://sync.example/webhooks/hubspot"
    body = json.dumps([{"eventId": 8, "subscriptionType": "contact.propertyChange"}]).encode()
    outcome = hubspot_delivery(
        config, _hs_headers(uri, body, int(NOW * 1000)), body, uri, NOW, SeenEvents()
    )
    assert (outcome.status, outcome.pipelines) == (202, ["customers-to-hubspot"])


def _service(config: Config) -> FakeService:
    """No token, no pipelines, a store that is not ready."""
    readiness = {"ready": False, "store": False, "scheduler": True, "stuck": []}
    return FakeService(config, now=lambda: NOW, readiness=readiness)


def _call(
    service: FakeService, method: str, path: str, body: bytes = b"", headers: Any = ()
) -> int:
    app = build_app(service)
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "scheme": "http", "server": ("127.0.0.1", 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in dict(headers).items()],
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


def test_status_api_is_404_without_a_configured_token(config: Config) -> None:
    """With no http.status_token the status API does not exist."""
    assert _call(_service(config), "GET", "/api/status") == 404


def test_readyz_is_503_when_the_store_is_down(config: Config) -> None:
    """/readyz answers 503 when a readiness check fails."""
    assert _call(_service(config), "GET", "/readyz") == 503


def test_webhook_endpoint_marks_the_matching_pipelines_due(config: Config) -> None:
    """POST /webhooks/b2connect with a good signature marks the event's pipelines due."""
    service = _service(config)
    body = _event("company.updated")
    assert _call(service, "POST", "/webhooks/b2connect", body, _b2_headers(body)) == 202
    assert service.due == ["companies-to-hubspot", "companies-to-salesforce"]


def test_webhook_endpoint_forged_signature_changes_nothing(config: Config) -> None:
    """A forged signature is 401 and marks nothing due."""
    service = _service(config)
    body = _event("company.updated")
    headers = {**_b2_headers(body), "X-B2Connect-Signature": "sha256=" + "0" * 64}
    assert _call(service, "POST", "/webhooks/b2connect", body, headers) == 401
    assert service.due == []


def test_status_command_on_an_unmigrated_store_says_what_to_do(tmp_path: Path) -> None:
    """`b2sync status` on a store without tables exits 1 and points at `b2sync db upgrade`."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        text.replace("sqlite:///state/b2sync.db", f"sqlite:///{tmp_path}/empty.db"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 1
    assert "b2sync db upgrade" in result.output


def _shared_secret_config(config: Config) -> Config:
    """A second tenant's connection that (wrongly) shares the first one's webhook secret."""
    shop = config.connections["shop"]
    other = shop.model_copy(update={"tenant_id": "99999999-2222-3333-4444-555555555555"})
    return config.model_copy(update={"connections": {**config.connections, "shop2": other}})


def test_b2connect_secret_of_two_tenants_is_refused_on_the_shared_route(config: Config) -> None:
    """When a secret verifies two tenants' connections the tenant is unknown: 403; the
    per-connection route names it and is accepted."""
    shared = _shared_secret_config(config)
    body = _event("customer.updated")
    refused = b2connect_delivery(shared, _b2_headers(body), body, NOW, SeenEvents())
    assert refused.status == 403
    named = b2connect_delivery(shared, _b2_headers(body), body, NOW, SeenEvents(), "shop")
    assert (named.status, named.pipelines) == (
        202,
        ["customers-to-hubspot", "customers-to-salesforce"],
    )


def test_b2connect_route_of_an_unknown_connection_is_404(config: Config) -> None:
    """/webhooks/b2connect/<name> for a name that is no B2Connect connection: 404."""
    body = _event("customer.updated")
    outcome = b2connect_delivery(config, _b2_headers(body), body, NOW, SeenEvents(), "hubspot")
    assert outcome.status == 404
