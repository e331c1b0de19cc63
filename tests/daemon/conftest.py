"""Daemon kit: `b2sync run` as a real subprocess against the emulators, plus small HTTP helpers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import sqlalchemy as sa

from connectors.b2connect import sign_webhook
from emulators.stack import EmulatorStack
from tests.e2e.conftest import MASTER_KEY, ROOT, by_key, config_for

B2SYNC = shutil.which("b2sync", path=str(Path(sys.executable).parent)) or "b2sync"
TOKEN = "status-token-for-tests"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.05)


def synced_customer(daemon: DaemonProcess) -> dict[str, Any]:
    """A B2Connect customer that exists in both CRMs after the backfill."""
    hubspot = by_key(daemon.stack.hubspot.admin_list("contacts"), "b2connect_id")
    salesforce = by_key(daemon.stack.salesforce.admin_list("Contact"), "B2Connect_Id__c")
    for customer in daemon.stack.b2connect.admin_list("customers"):
        if customer["id"] in hubspot and customer["id"] in salesforce:
            return customer
    raise AssertionError("no customer was synced to both CRMs")


def first_names(daemon: DaemonProcess, key: str) -> tuple[str | None, str | None]:
    hubspot = by_key(daemon.stack.hubspot.admin_list("contacts"), "b2connect_id")[key]
    salesforce = by_key(daemon.stack.salesforce.admin_list("Contact"), "B2Connect_Id__c")[key]
    return hubspot[0]["properties"].get("firstname"), salesforce[0].get("FirstName")


def daemon_config_text(grace: str = "20s") -> str:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    return text.replace(
        "  listen: 127.0.0.1:8765\n",
        "  listen: 127.0.0.1:8765\n"
        "  status_token: ${B2SYNC_STATUS_TOKEN}\n"
        f"  grace_period: {grace}\n",
    )


class DaemonProcess:
    """One `b2sync run --listen 127.0.0.1:<port>` subprocess and its log file."""

    def __init__(
        self,
        stack: EmulatorStack,
        tmp_path: Path,
        grace: str = "20s",
        *,
        config_text: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.stack = stack
        self.tmp_path = tmp_path
        self.extra_env = dict(extra_env or {})
        text = config_text or daemon_config_text(grace)
        self.config, self.config_path = config_for(tmp_path, text)
        self.port = free_port()
        self.listen_host = "127.0.0.1"
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "daemon.log"
        self.db = sa.create_engine(f"sqlite:///{tmp_path}/state.db")
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = requests.Session()
        self.http.trust_env = False

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
        env.update(self.stack.env())
        env["B2SYNC_STATUS_TOKEN"] = TOKEN
        env["B2SYNC_MASTER_KEY"] = MASTER_KEY
        env.update(self.extra_env)
        return env

    def start(self) -> DaemonProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [B2SYNC, "run", "--config", str(self.config_path), "--listen", f"{self.listen_host}:{self.port}"],
            env=self.env(), stdout=log, stderr=log,
        )  # fmt: skip
        log.close()
        wait_for(self._healthy, 30, "the daemon's /healthz")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}: {self.log()}")
        try:
            return self.http.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 40) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    # ---- store and status

    def runs(self) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM runs ORDER BY started_at"))
            return [dict(r._mapping) for r in rows]

    def status(self) -> dict[str, Any]:
        answer = self.http.get(
            f"{self.url}/api/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        answer.raise_for_status()
        return dict(answer.json())

    def all_synced(self) -> bool:
        """Every pipeline has a finished successful run and none is running now."""
        pipelines = self.status()["pipelines"]
        return all(p["last_success_at"] and not p["running_since"] for p in pipelines)

    # ---- webhooks

    def signed_b2connect(
        self, event: dict[str, Any], *, event_id: str, secret: str | None = None,
        at: float | None = None,
    ) -> tuple[bytes, dict[str, str]]:  # fmt: skip
        """A B2Connect delivery (body, headers) signed as B2Connect signs it."""
        body = json.dumps(event).encode()
        stamp = str(int(time.time() if at is None else at))
        key = secret or self.stack.b2connect.webhook_secret
        headers = {
            "Content-Type": "application/json",
            "X-B2Connect-Event-Id": event_id,
            "X-B2Connect-Timestamp": stamp,
            "X-B2Connect-Signature": sign_webhook(key, stamp, body),
        }
        return body, headers

    def post_b2connect(
        self, event: dict[str, Any], *, event_id: str, secret: str | None = None
    ) -> requests.Response:
        body, headers = self.signed_b2connect(event, event_id=event_id, secret=secret)
        return self.post_raw("/webhooks/b2connect", body, headers)

    def post_raw(self, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        """POST ``body`` as it is (a captured delivery, replayed)."""
        return self.http.post(f"{self.url}{path}", data=body, headers=headers, timeout=10)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.http.close()
            self.db.dispose()


@pytest.fixture(scope="session")
def stack() -> Iterator[EmulatorStack]:
    with EmulatorStack(customers=40, seed=7) as emulators:
        yield emulators


def fresh(stack: EmulatorStack) -> None:
    stack.b2connect.webhook_url = None
    for emu in stack.emulators:
        emu.reset()
    stack.load_seed()


@contextmanager
def running_daemon(stack: EmulatorStack, tmp_path: Path) -> Iterator[DaemonProcess]:
    """Reset emulators, a fresh store, a daemon that B2Connect sends webhooks to, backfilled."""
    fresh(stack)
    proc = DaemonProcess(stack, tmp_path)
    try:
        proc.start()
        stack.b2connect.webhook_url = f"{proc.url}/webhooks/b2connect"
        wait_for(proc.all_synced, 60, "the first backfill")
        yield proc
    finally:
        stack.b2connect.webhook_url = None
        proc.close()


@pytest.fixture
def daemon(stack: EmulatorStack, tmp_path: Path) -> Iterator[DaemonProcess]:
    """A running, backfilled daemon of its own for one test."""
    with running_daemon(stack, tmp_path) as proc:
        yield proc
