"""emulators.stack and `emulators up`: three seeded emulators, state and env files."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests

from emulators.stack import ENV_VARS, EmulatorStack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack() -> Iterator[EmulatorStack]:
    """A running stack with a small seed."""
    with EmulatorStack(customers=15, seed=5) as running:
        yield running


def _source(env_file: Path) -> dict[str, str]:
    """What a shell sees after `set -a; . FILE`."""
    out = subprocess.run(
        ["bash", "-c", f'set -a; . "{env_file}"; env -0'],
        capture_output=True,
        check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    ).stdout.decode()
    pairs = (item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("B2SYNC_")}


def test_state_names_every_connection(stack: EmulatorStack) -> None:
    """state() holds the URLs and credentials of all three emulators."""
    state = stack.state()
    assert set(state) == {"b2connect", "hubspot", "salesforce"}
    assert set(state["b2connect"]) == {"url", "token", "tenant_id", "webhook_secret"}
    assert set(state["hubspot"]) == {"url", "token", "app_secret"}
    assert set(state["salesforce"]) == {"instance_url", "session_id", "ca_file"}
    assert state["salesforce"]["instance_url"].startswith("https://127.0.0.1:")
    assert Path(state["salesforce"]["ca_file"]).is_file()
    claims = jwt.decode(state["b2connect"]["token"], options={"verify_signature": False})
    assert claims["tenant_id"] == state["b2connect"]["tenant_id"]


def test_all_three_are_seeded(stack: EmulatorStack) -> None:
    """The same seed landed in B2Connect, HubSpot and Salesforce, nothing refused."""
    data = stack.seed_data
    assert data is not None
    assert stack.seed_rejects == []
    assert len(stack.b2connect.admin_list("customers")) == 15
    assert len(stack.hubspot.admin_list("contacts")) == len(data.hubspot_contacts)
    assert len(stack.salesforce.admin_list("Contact")) == len(data.salesforce_contacts)
    assert len(stack.salesforce.admin_list("Account")) == len(data.salesforce_accounts)


def test_b2connect_token_works(stack: EmulatorStack) -> None:
    """The state's token and tenant read the B2Connect feed."""
    b2c = stack.state()["b2connect"]
    resp = requests.get(
        f"{b2c['url']}/api/crm/customers/delta",
        headers={"Authorization": f"Bearer {b2c['token']}", "X-Tenant-ID": b2c["tenant_id"]},
        timeout=10,
    )
    assert resp.status_code == 200


def test_write_state_is_private_json(stack: EmulatorStack, tmp_path: Path) -> None:
    """The state file is JSON equal to state(), readable by the owner only."""
    path = stack.write_state(tmp_path / "emu" / "state.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text(encoding="utf-8")) == stack.state()


def test_env_file_sources_in_a_shell(stack: EmulatorStack, tmp_path: Path) -> None:
    """`set -a; . env` yields every variable config.yaml references, with its value."""
    path = stack.write_env(tmp_path / "env")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _source(path) == stack.env()
    assert set(stack.env()) == set(ENV_VARS)


def test_env_file_quotes_shell_specials(tmp_path: Path) -> None:
    """Values with quotes, $, spaces and ! survive sourcing unchanged."""
    tricky = "00D$(echo pwned) 'quoted' \"dq\" !bang"
    unstarted = EmulatorStack(customers=0, salesforce_kwargs={"session_id": tricky})
    env = _source(unstarted.write_env(tmp_path / "env"))
    assert env["B2SYNC_SALESFORCE_SESSION_ID"] == tricky


def test_config_yaml_references_exactly_these_vars() -> None:
    """The default config.yaml uses the variables the env file writes."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    used = {v for v in ENV_VARS if "${" + v + "}" in text}
    assert used == set(ENV_VARS)


def _up(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "b2sync.demo.emulators",
        "up",
        "--customers",
        "12",
        "--state-file",
        str(tmp_path / "state.json"),
        "--env-file",
        str(tmp_path / "env"),
        *extra,
    ]


def test_up_with_duration_exits_zero(tmp_path: Path) -> None:
    """`emulators up --duration 1` serves, writes its files, prints URLs but no token."""
    proc = subprocess.run(
        _up(tmp_path, "--duration", "1"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    state = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert state["b2connect"]["url"] in proc.stdout
    assert state["b2connect"]["token"] not in proc.stdout
    assert state["hubspot"]["token"] not in proc.stdout
    assert stat.S_IMODE((tmp_path / "env").stat().st_mode) == 0o600


def test_up_stops_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM stops the emulators and exits 0."""
    with subprocess.Popen(
        _up(tmp_path, "--simulate-shoppers"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "to stop" in line:
                    break
            assert (tmp_path / "env").is_file()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
