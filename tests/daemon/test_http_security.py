"""The daemon's HTTP surface as ops and attackers see it: security headers on every answer,
and /metrics closed beyond loopback unless a metrics token is set (a real `b2sync run`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.stack import EmulatorStack
from tests.daemon.conftest import TOKEN, DaemonProcess, fresh

METRICS_TOKEN = "metrics-token-for-tests-0123456789"
HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def _daemon(stack: EmulatorStack, tmp_path: Path, host: str, token: str | None) -> DaemonProcess:
    fresh(stack)
    proc = DaemonProcess(stack, tmp_path)
    proc.listen_host = host
    if token is not None:
        text = proc.config_path.read_text(encoding="utf-8")
        proc.config_path.write_text(
            text.replace(
                "  status_token:", "  metrics_token: ${B2SYNC_METRICS_TOKEN}\n  status_token:"
            ),
            encoding="utf-8",
        )
    proc.extra_env["B2SYNC_METRICS_TOKEN"] = METRICS_TOKEN
    return proc


@pytest.fixture
def exposed(stack: EmulatorStack, tmp_path: Path) -> Iterator[DaemonProcess]:
    """A daemon listening on 0.0.0.0 without a metrics token (as a careless container would)."""
    proc = _daemon(stack, tmp_path, "0.0.0.0", None)
    try:
        yield proc.start()
    finally:
        proc.close()


def test_every_answer_carries_the_security_headers(exposed: DaemonProcess) -> None:
    """200, 401, 403, 404, 405 and webhook refusals alike carry no-store, CSP and no-framing."""
    base = exposed.url
    answers = [
        exposed.http.get(f"{base}/healthz", timeout=10),
        exposed.http.get(f"{base}/api/status", timeout=10),
        exposed.http.get(f"{base}/metrics", timeout=10),
        exposed.http.get(f"{base}/nope", timeout=10),
        exposed.http.get(f"{base}/webhooks/b2connect", timeout=10),
        exposed.http.post(f"{base}/webhooks/b2connect", data=b"{}", timeout=10),
    ]
    assert [a.status_code for a in answers[:5]] == [200, 401, 403, 404, 405]
    assert answers[5].status_code >= 400
    for answer in answers:
        for name, value in HEADERS.items():
            assert answer.headers.get(name) == value, (answer.url, name)
        csp = answer.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_metrics_beyond_loopback_need_the_token(exposed: DaemonProcess) -> None:
    """On 0.0.0.0 without http.metrics_token /metrics refuses (403) and the log says why."""
    answer = exposed.http.get(f"{exposed.url}/metrics", timeout=10)
    assert answer.status_code == 403
    assert "b2sync_" not in answer.text
    assert "http.metrics_closed" in exposed.log()


def test_a_short_status_token_is_named_at_start(exposed: DaemonProcess) -> None:
    """The test's 22-character status token is flagged as weak (its value is not logged)."""
    weak = [e for e in exposed.events() if e.get("event") == "http.weak_token"]
    assert [e["setting"] for e in weak] == ["http.status_token"]
    assert TOKEN not in exposed.log()


def test_metrics_token_opens_metrics_to_its_bearer(stack: EmulatorStack, tmp_path: Path) -> None:
    """With http.metrics_token set, /metrics answers that bearer token only (any address)."""
    proc = _daemon(stack, tmp_path, "0.0.0.0", METRICS_TOKEN)
    try:
        proc.start()
        anonymous = proc.http.get(f"{proc.url}/metrics", timeout=10)
        wrong = proc.http.get(
            f"{proc.url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10
        )
        right = proc.http.get(
            f"{proc.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=10,
        )  # fmt: skip
    finally:
        proc.close()
    assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "b2sync_webhooks" in right.text or "b2sync_runs" in right.text
    assert "http.metrics_closed" not in proc.log()
    assert "http.metrics_token" not in proc.log()  # 34 characters: not weak
