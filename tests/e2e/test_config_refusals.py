"""A mistyped field name refuses to start, with file:line, before anything is written.

Finding 14.1(a): a CRM property that does not exist (``crm: frstname``) on a two-way pipeline;
finding 14.2: a B2Connect field that does not exist (``b2connect: fristName``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.e2e.conftest import E2E
from tests.e2e.test_cli_sync import cli


def _mistype(e2e: E2E, old: str, new: str) -> int:
    """Replace ``old`` by ``new`` once in the test's config; the 1-based line it is on."""
    text = e2e.config_path.read_text(encoding="utf-8")
    assert old in text
    e2e.config_path.write_text(text.replace(old, new, 1), encoding="utf-8")
    lines = e2e.config_path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if new in line)


def _writes(e2e: E2E, system: str) -> dict[str, int]:
    """The emulator's calls that change data (anything but GET)."""
    return {k: v for k, v in e2e.calls(system).items() if not k.startswith("GET ")}


def _reported(result: subprocess.CompletedProcess[str], where: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(where)]


def test_check_online_flags_a_missing_crm_property(e2e: E2E) -> None:
    """check --online names a CRM property HubSpot lacks, with file:line and the nearest name."""
    line = _mistype(e2e, "crm: firstname", "crm: frstname")
    offline = cli(e2e, "check", "--config", str(e2e.config_path))
    assert offline.returncode == 0, "offline, the file itself is valid"
    result = cli(e2e, "check", "--online", "--config", str(e2e.config_path))
    assert result.returncode == 2, result.stdout
    [problem] = _reported(result, f"{e2e.config_path}:{line}:")
    assert "pipelines[0].fields[1].crm" in problem and "'frstname'" in problem
    assert "did you mean 'firstname'?" in problem


def test_check_online_accepts_the_shipped_config(e2e: E2E) -> None:
    """Every mapped field of the shipped config exists (b2c_* insights properties included)."""
    result = cli(e2e, "check", "--online", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr
    assert "every mapped CRM field exists" in result.stdout


def test_sync_refuses_a_missing_crm_property_and_writes_nothing(e2e: E2E) -> None:
    """sync with `crm: frstname` on the two-way pipeline exits 2 before any write, both ways."""
    line = _mistype(e2e, "crm: firstname", "crm: frstname")
    result = cli(e2e, "sync", "customers-to-hubspot", "--config", str(e2e.config_path))
    assert result.returncode == 2, result.stdout
    assert _reported(result, f"{e2e.config_path}:{line}:"), result.stderr
    assert "nothing was started" in result.stderr
    assert not any(k.startswith("PATCH ") for k in e2e.calls("b2connect")), "no B2Connect PATCH"
    assert _writes(e2e, "b2connect") == {}
    assert _writes(e2e, "hubspot") == {}


def test_unknown_source_field_is_refused_everywhere(e2e: E2E, tmp_path: Path) -> None:
    """`b2connect: fristName` fails check, mapping preview and sync with file:line:column."""
    line = _mistype(
        e2e, "b2connect: firstName, crm: firstname", "b2connect: fristName, crm: firstname"
    )
    column = (
        e2e.config_path.read_text(encoding="utf-8").splitlines()[line - 1].index("fristName") + 1
    )
    record = tmp_path / "customer.json"
    record.write_text(json.dumps({"id": "c-1", "email": "a@example.com", "firstName": "Ada"}))
    config = ("--config", str(e2e.config_path))
    for args in (
        ("check", *config),
        ("mapping", "preview", "-p", "customers-to-hubspot", "-r", str(record), *config),
        ("sync", "customers-to-hubspot", *config),
    ):
        result = cli(e2e, *args)
        assert result.returncode == 2, (args, result.stdout)
        [problem] = _reported(result, f"{e2e.config_path}:{line}:{column}:")
        assert "'fristName' is not a field of B2Connect customers" in problem
        assert "did you mean 'firstName'?" in problem
    assert _writes(e2e, "hubspot") == {}
    assert _writes(e2e, "b2connect") == {}


def test_unknown_path_in_a_coalesce_transform_is_refused(e2e: E2E) -> None:
    """A path a coalesce transform reads is checked too (`ordrNumber` → orderNumber)."""
    line = _mistype(e2e, "{coalesce: [orderNumber, id]}", "{coalesce: [ordrNumber, id]}")
    result = cli(e2e, "check", "--config", str(e2e.config_path))
    assert result.returncode == 2
    [problem] = _reported(result, f"{e2e.config_path}:{line}:")
    assert "'ordrNumber' is not a field of B2Connect orders" in problem
    assert "did you mean 'orderNumber'?" in problem
