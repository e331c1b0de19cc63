"""``b2sync ui`` as a real process: where the token may come from and how strong it must be."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from audit import KeyRing
from tests.audit.conftest import MASTER_KEY
from tests.audit.server import TOKEN, seed

B2SYNC = shutil.which("b2sync", path=str(Path(sys.executable).parent)) or "b2sync"


@pytest.fixture
def env(sqlite_store_engine: sa.Engine, keys: KeyRing) -> Iterator[dict[str, str]]:
    """The environment of a `b2sync ui` process: master key, no UI token."""
    seed(sqlite_store_engine, keys)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_UI_")}
    environ["B2SYNC_MASTER_KEY"] = base64.b64encode(MASTER_KEY).decode()
    yield environ


def _ui(url: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    command = [B2SYNC, "ui", "--state-url", url, *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(proc: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            requests.get(base + "/login", timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("b2sync ui did not start")


@pytest.mark.parametrize(
    ("extra_env", "args", "message"),
    [
        ({}, [], "not set"),
        ({"B2SYNC_UI_TOKEN": "short-token"}, [], "at least 32"),
        ({}, ["--token", TOKEN], "No such option"),
    ],
)
def test_missing_weak_or_command_line_token_refuses_to_start(
    sqlite_store_url: str, env: dict[str, str], extra_env: dict[str, str], args: list[str],
    message: str,
) -> None:  # fmt: skip
    """No token, one under 32 characters or one on the command line: exit 2, nothing served."""
    proc = _ui(sqlite_store_url, {**env, **extra_env}, "--port", str(_free_port()), *args)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, output
    assert message in output
    assert "short-token" not in output


def test_token_file_serves_bearer_clients(
    sqlite_store_url: str, env: dict[str, str], tmp_path: Path
) -> None:
    """--token-file is read; the page answers the bearer token and refuses it in the URL;
    each request is one structured JSON ``http.request`` line (path without the query, so
    neither the token nor a searched person reaches the log), no plain access line."""
    token_file = tmp_path / "ui-token"
    token_file.write_text(TOKEN + "\n")
    port = _free_port()
    proc = _ui(sqlite_store_url, env, "--port", str(port), "--token-file", str(token_file))
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(proc, base)
        ok = requests.get(
            base + "/erasures", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        in_url = requests.get(base + "/erasures", params={"token": TOKEN}, timeout=10)
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert ok.status_code == 200 and "ER-77" in ok.text
    assert in_url.status_code == 400
    assert TOKEN not in output
    requests_logged = [
        json.loads(line) for line in output.splitlines()
        if line.startswith("{") and '"http.request"' in line
    ]  # fmt: skip
    assert [(r["path"], r["status"]) for r in requests_logged if r["path"] == "/erasures"] == [
        ("/erasures", 200), ("/erasures", 400),
    ]  # fmt: skip
    assert "GET /erasures" not in output  # uvicorn's plain access line is off
