"""The b2sync command line, run as a user would: the installed console script."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
B2SYNC = shutil.which("b2sync", path=str(Path(sys.executable).parent)) or "b2sync"


def run(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
    full_env.update(env or {})
    return subprocess.run(
        [B2SYNC, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version() -> None:
    """--version prints the package version and exits 0."""
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("b2sync 0.")


def test_check_accepts_the_default_config() -> None:
    """check on the shipped config exits 0 and warns about unset references."""
    result = run("check", "--config", "config.yaml")
    assert result.returncode == 0, result.stderr
    assert "OK: 3 connections, 6 pipelines" in result.stdout
    assert "B2SYNC_HUBSPOT_TOKEN is not set" in result.stderr


def test_check_strict_fails_on_unset_references() -> None:
    """--strict turns unresolved references into exit 2."""
    assert run("check", "--strict", "--config", "config.yaml").returncode == 2


def test_check_reports_three_mistakes_with_positions(tmp_path: Path) -> None:
    """Three mistakes → three file:line:col lines on stderr and exit 2, no traceback."""
    text = (ROOT / "config.yaml").read_text()
    text = text.replace("direction: push", "direction: sideways", 1)
    text = text.replace("schedule: {every: 15m}", "schedule: {every: 15 minutes}", 1)
    text = text.replace("token: ${B2SYNC_HUBSPOT_TOKEN}", "token: pat-na1-11111111-2222")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = run("check", "--config", str(bad))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(bad) + ":")]
    assert len(lines) == 3, result.stderr
    assert all(line.split(":")[1].isdigit() and line.split(":")[2].isdigit() for line in lines)
    assert "Traceback" not in result.stderr and "pat-na1-11111111" not in result.stderr


def test_config_env_variable_is_the_default(tmp_path: Path) -> None:
    """Without --config, $B2SYNC_CONFIG is used."""
    result = run("check", cwd=tmp_path, env={"B2SYNC_CONFIG": str(ROOT / "config.yaml")})
    assert result.returncode == 0, result.stderr


def test_missing_config_exits_2(tmp_path: Path) -> None:
    """A missing ./config.yaml is a bad-config exit with one clear line."""
    result = run("check", cwd=tmp_path)
    assert result.returncode == 2
    assert "config.yaml:1:1: file not found" in result.stderr


def test_schema_validates_the_default_config() -> None:
    """config schema prints a JSON Schema that accepts config.yaml and rejects a typo."""
    result = run("config", "schema", "--config", "config.yaml")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    config = YAML(typ="safe").load((ROOT / "config.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(config)
    config["pipelines"][0]["fields"][0]["rule"] = "prefer_crmm"
    assert not jsonschema.Draft202012Validator(schema).is_valid(config)


def test_shipped_schema_file_is_current() -> None:
    """docs/config.schema.json (used by editors) matches `b2sync config schema`."""
    result = run("config", "schema")
    assert json.loads(result.stdout) == json.loads((ROOT / "docs/config.schema.json").read_text())


def test_db_upgrade_creates_sqlite_store(tmp_path: Path) -> None:
    """db upgrade migrates the SQLite store named by state_url."""
    text = (
        (ROOT / "config.yaml")
        .read_text()
        .replace("sqlite:///state/b2sync.db", f"sqlite:///{tmp_path}/s/b2sync.db")
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    result = run("db", "upgrade", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "revision" in result.stdout
    assert (tmp_path / "s" / "b2sync.db").exists()


def test_db_upgrade_unreachable_postgres_is_one_line(tmp_path: Path) -> None:
    """An unreachable PostgreSQL gives exit 1 and one line naming host and cause."""
    text = (
        (ROOT / "config.yaml")
        .read_text()
        .replace("sqlite:///state/b2sync.db", "postgresql://b2sync:pw-not-shown@127.0.0.1:1/b2sync")
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    result = run("db", "upgrade", "--config", str(cfg))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "127.0.0.1:1" in lines[0] and "pw-not-shown" not in lines[0]


def test_unknown_command_is_usage_error() -> None:
    """An unknown command exits 2 (bad usage)."""
    assert run("frobnicate").returncode == 2


def _all_references_set() -> dict[str, str]:
    """Every ${VAR} config.yaml references, set to a placeholder (nothing connects in check)."""
    names = re.findall(r"\$\{([A-Z0-9_]+)\}", (ROOT / "config.yaml").read_text())
    return dict.fromkeys(names, "placeholder")


def test_check_strict_fails_without_the_audit_master_key() -> None:
    """audit.enabled without B2SYNC_MASTER_KEY(_FILE): --strict exits 2 at audit.enabled's line."""
    result = run("check", "--strict", "--config", "config.yaml", env=_all_references_set())
    line = next(
        n for n, text in enumerate((ROOT / "config.yaml").read_text().splitlines(), 1)
        if text.strip() == "enabled: true"
    )  # fmt: skip
    assert result.returncode == 2, result.stdout
    assert f"config.yaml:{line}:" in result.stderr and "B2SYNC_MASTER_KEY" in result.stderr
    with_key = run(
        "check", "--strict", "--config", "config.yaml",
        env={**_all_references_set(), "B2SYNC_MASTER_KEY": base64.b64encode(bytes(32)).decode()},
    )  # fmt: skip
    assert with_key.returncode == 0, with_key.stderr


@pytest.mark.parametrize(
    ("old", "new", "hint"),
    [
        ("b2connect: productSku, crm: hs_sku", "b2connect: productSkew, crm: hs_sku",
         "did you mean 'productSku'?"),
        ("b2connect: insights.vip, crm: b2c_vip", "b2connect: insights.vipp, crm: b2c_vip",
         "did you mean 'insights.vip'?"),
        ("match_key: {b2connect: email, crm: email}", "match_key: {b2connect: e_mail, crm: email}",
         "did you mean 'email'?"),
    ],
)  # fmt: skip
def test_check_refuses_unknown_source_paths(tmp_path: Path, old: str, new: str, hint: str) -> None:
    """Order-line fields, insights.* names and match keys are checked against the contract."""
    text = (ROOT / "config.yaml").read_text()
    assert old in text
    bad = tmp_path / "config.yaml"
    bad.write_text(text.replace(old, new, 1))
    line = next(n for n, row in enumerate(bad.read_text().splitlines(), 1) if new in row)
    result = run("check", "--config", str(bad))
    assert result.returncode == 2
    [problem] = [row for row in result.stderr.splitlines() if row.startswith(str(bad) + ":")]
    assert problem.startswith(f"{bad}:{line}:") and hint in problem
