"""HubSpot v3 webhook signatures cover the public URL HubSpot called; behind a TLS-terminating
proxy the daemon must check them against that URL (``http.public_url``, or the forwarded
scheme and host from a trusted proxy), never against forwarded headers from anyone else.

Vendor: "Validating requests from HubSpot" (v3): the signed string is
``method + URI + body + timestamp`` with the full URI as HubSpot called it
(https://developers.hubspot.com/docs/api/webhooks/validating-requests).
The daemon runs its real HTTP server on http://127.0.0.1; HubSpot signs
https://public.example/webhooks/hubspot with hubspot-api-client's own ``Signature``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from hubspot.utils.signature import Signature

from b2sync.service import HttpServer
from mapping.config import Config, parse_config
from tests.daemon.conftest import daemon_config_text, wait_for
from tests.daemon.fake_service import FakeService

# no vendor marker: the daemon side needs no HubSpot account, so it runs in --real mode too

SECRET = "hs-app-secret-for-fidelity"
PUBLIC = "https://public.example"
EVENTS = [{"eventId": 41, "portalId": 0, "subscriptionType": "contact.propertyChange"}]


def _config(monkeypatch: pytest.MonkeyPatch, http_lines: str) -> Config:
    monkeypatch.setenv("B2SYNC_B2CONNECT_WEBHOOK_SECRET", "b2-secret")
    monkeypatch.setenv("B2SYNC_HUBSPOT_APP_SECRET", SECRET)
    monkeypatch.setenv("B2SYNC_B2CONNECT_TENANT_ID", "11111111-2222-3333-4444-555555555555")
    text = daemon_config_text().replace(
        "  listen: 127.0.0.1:8765\n", "  listen: 127.0.0.1:8765\n" + http_lines
    )
    return parse_config(text, "config.yaml")


@pytest.fixture
def daemon_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Start the daemon's real HTTP server with extra ``http:`` lines; yields its base URL."""
    servers: list[HttpServer] = []

    def start(http_lines: str) -> str:
        server = HttpServer(FakeService(_config(monkeypatch, http_lines)), "127.0.0.1", 0)
        host, port = server.start()
        servers.append(server)
        base = f"http://{host}:{port}"
        wait_for(lambda: _up(base), 10, "the daemon's HTTP server")
        return base

    yield start
    for server in servers:
        server.stop()


def _up(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def _deliver(
    base: str, signed_for: str, headers: dict[str, str] | None = None, path: str = ""
) -> int:
    """POST the events to ``base`` signed (by the SDK) for ``signed_for``; the status code."""
    body = json.dumps(EVENTS)
    stamp = str(int(time.time() * 1000))
    signature = Signature.get_signature(
        SECRET, body, "v3", http_uri=signed_for, http_method="POST", timestamp=stamp
    )
    sent = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": stamp,
        **(headers or {}),
    }
    url = f"{base}{path or '/webhooks/hubspot'}"
    answer = requests.post(url, data=body, headers=sent, timeout=10)
    return answer.status_code


def test_signature_for_the_public_url_fails_without_the_setting(daemon_http: Any) -> None:
    """Without http.public_url a delivery signed for https://public.example is a 401."""
    base = daemon_http("")
    assert _deliver(base, f"{PUBLIC}/webhooks/hubspot") == 401


def test_public_url_setting_verifies_the_proxied_delivery(daemon_http: Any) -> None:
    """With http.public_url the same delivery on http://127.0.0.1 verifies (202)."""
    base = daemon_http(f"  public_url: {PUBLIC}\n")
    assert _deliver(base, f"{PUBLIC}/webhooks/hubspot") == 202


def test_public_url_keeps_its_path_prefix_and_the_query(daemon_http: Any) -> None:
    """A proxy that strips /b2sync: the signed URI is public_url + path + query."""
    base = daemon_http(f"  public_url: {PUBLIC}/b2sync/\n")
    path = "/webhooks/hubspot?source=test"
    assert _deliver(base, f"{PUBLIC}/b2sync{path}", path=path) == 202


def test_forwarded_headers_from_a_trusted_proxy_are_honoured(daemon_http: Any) -> None:
    """X-Forwarded-Proto/Host from an address in http.trusted_proxies give the signed URL."""
    base = daemon_http("  trusted_proxies: [127.0.0.1]\n")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example"}
    assert _deliver(base, f"{PUBLIC}/webhooks/hubspot", forwarded) == 202


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(daemon_http: Any) -> None:
    """The same forwarded headers from a peer outside http.trusted_proxies do not verify."""
    base = daemon_http("  trusted_proxies: [10.0.0.0/8]\n")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example"}
    assert _deliver(base, f"{PUBLIC}/webhooks/hubspot", forwarded) == 401
    assert _deliver(base, f"{base}/webhooks/hubspot", forwarded) == 202


def test_a_bad_trusted_proxy_entry_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """http.trusted_proxies accepts only addresses and CIDR networks."""
    with pytest.raises(Exception, match="not an IP address or CIDR network"):
        _config(monkeypatch, "  trusted_proxies: [proxy.internal]\n")
