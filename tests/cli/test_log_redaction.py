"""One redaction for every log line: structlog events and stdlib records (urllib3, uvicorn,
apscheduler) in a real process, with secrets and personal data in every shape."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

from tests.daemon.conftest import B2SYNC
from tests.e2e.conftest import MASTER_KEY, ROOT

SECRETS = {
    "query token": "qs-secret-0123456789",
    "basic auth": "Zm9vOmJhcmJhemJhcg==",
    "bearer": "brr-0123456789abcdef",
    "url password": "pw-in-url-9876",
    "json token": "json-secret-4567",
    "email": "ada.lovelace@example.com",
    "encoded email": "grace%40example.org",
    "key email": "key.person@example.net",
    "set email": "set.person@example.io",
    "bytes email": "bytes.person@example.co",
    "exception email": "boom.person@example.de",
    "national phone": "030 12345678",
    "us phone": "555-867-5309",
    "mobile": "0171 2345678",
}

_SCRIPT = """
import logging, sys
import structlog
import urllib3
from sync.logs import configure_logging

S = {secrets!r}
configure_logging(json=True, stream=sys.stdout)
pool = urllib3.PoolManager(retries=urllib3.Retry(total=1, backoff_factor=0))
try:
    pool.request("GET", "http://127.0.0.1:{port}/crm/v3?access_token=" + S["query token"])
except urllib3.exceptions.MaxRetryError:
    pass
logging.getLogger("uvicorn.access").info(
    '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET",
    "/?token=" + S["query token"] + "&subject=" + S["encoded email"], "1.1", 400,
)
try:
    raise ValueError("no consent for " + S["exception email"] + " at " + S["national phone"])
except ValueError:
    logging.getLogger("apscheduler.executors.default").exception("Job raised an exception")
structlog.get_logger("b2sync.test").warning(
    "crm.failed",
    header="Authorization: Basic " + S["basic auth"],
    detail="call https://svc:" + S["url password"] + "@crm.example/x with Bearer " + S["bearer"],
    body='{{"access_token": "' + S["json token"] + '", "phone": "' + S["us phone"] + '"}}',
    by_person={{S["key email"]: 1}},
    people={{S["set email"]}},
    raw=("mail " + S["bytes email"]).encode(),
    error=RuntimeError("call " + S["mobile"]),
)
"""


def test_every_log_line_is_redacted_in_a_real_process() -> None:
    """urllib3's retry warning, a uvicorn access line, an apscheduler traceback and a
    structlog event with dict keys, sets, bytes and exceptions: nothing of the corpus prints."""
    with socket.socket() as sock:  # a port nobody listens on: urllib3 logs its retry
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = textwrap.dedent(_SCRIPT).format(secrets=SECRETS, port=port)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
        env={**os.environ}, check=True,
    )  # fmt: skip
    output = result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    loggers = {line.get("logger") for line in lines}
    assert {"urllib3.connectionpool", "uvicorn.access", "apscheduler.executors.default"} <= loggers
    assert "b2sync.test" in loggers
    leaked = {name: value for name, value in SECRETS.items() if value in output}
    assert leaked == {}
    assert "access_token=[redacted]" in output and "[email]" in output and "[phone]" in output
    assert "Traceback" in output  # the exception is kept, only its personal data is masked


def test_a_token_in_a_connection_url_never_prints(tmp_path: Path) -> None:
    """`b2sync sync` against unreachable URLs carrying access_token: the runs fail (exit 1) and
    neither the terminal, the logs nor the runs' stored errors show the token."""
    secret = "url-token-LEAKME-0123456789"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        text.replace("sqlite:///state/b2sync.db", f"sqlite:///{tmp_path}/state.db"),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
    env.update({name: f"dummy-{name}" for name in re.findall(r"\$\{([A-Z0-9_]+)\}", text)})
    env.update(
        B2SYNC_B2CONNECT_TENANT_ID="t1", B2SYNC_MASTER_KEY=MASTER_KEY,
        B2SYNC_B2CONNECT_URL=f"http://127.0.0.1:{port}/api?access_token={secret}",
        B2SYNC_HUBSPOT_URL=f"http://svc:{secret}@127.0.0.1:{port}",
        B2SYNC_SALESFORCE_URL=f"http://127.0.0.1:{port}",
    )  # fmt: skip
    subprocess.run(
        [B2SYNC, "db", "upgrade", "--config", str(config)], env=env, check=True,
        capture_output=True, timeout=120,
    )  # fmt: skip
    result = subprocess.run(
        [B2SYNC, "sync", "--config", str(config)], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    engine = sa.create_engine(f"sqlite:///{tmp_path}/state.db")
    try:
        with engine.connect() as conn:
            errors = [str(e) for (e,) in conn.execute(sa.text("SELECT error FROM runs"))]
    finally:
        engine.dispose()
    assert result.returncode == 1, result.stderr
    assert any(f"127.0.0.1:{port}/api" in e for e in errors), (
        errors,
        result.stderr[-3000:],
    )  # where it failed is kept
    assert secret not in result.stdout + result.stderr
    assert all(secret not in e for e in errors)
