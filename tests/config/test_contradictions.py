"""Contradictory field settings (issue 20, item 6) are refused by `check` and by every command
that loads the config, with file:line:column and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from b2sync.cli import app
from tests.config.texts import HEADER, contacts_pipeline

CONFIG = (
    HEADER
    + contacts_pipeline(
        "people",
        "push",
        "{b2connect: email, crm: email, transform: [email], required: true}",
        "{b2connect: firstName, crm: firstname, direction: pull}",
    )
    + contacts_pipeline(
        "people-both",
        "both",
        "{b2connect: email, crm: email, transform: [email], required: true, direction: push}",
        "{b2connect: lastName, crm: lastname, direction: push, rule: prefer_crm}",
        "{b2connect: phone, crm: phone, direction: pull, rule: b2connect_only}",
        "{b2connect: language, crm: hs_language, rule: crm_only, required: true}",
    )
    + contacts_pipeline(
        "people-pull",
        "pull",
        "{b2connect: email, crm: email, transform: [email], direction: push}",
        "{b2connect: firstName, crm: firstname, direction: both}",
    )
)

#: (the field's line in CONFIG, the key reported, key path, words of the message)
EXPECTED = [
    ("crm: firstname, direction: pull", "direction", "pipelines[0].fields[1].direction",
     "only pushes"),
    ("crm: lastname, direction: push", "rule", "pipelines[1].fields[1].rule",
     "direction: push with rule: prefer_crm"),
    ("crm: phone, direction: pull", "rule", "pipelines[1].fields[2].rule",
     "direction: pull with rule: b2connect_only"),
    ("crm: hs_language, rule: crm_only", "required", "pipelines[1].fields[3].required",
     "never pushed (rule: crm_only)"),
    ("crm: firstname, direction: both", "direction", "pipelines[2].fields[1].direction",
     "only pulls"),
]  # fmt: skip


def _position(marker: str, key: str) -> tuple[int, int]:
    """1-based line and column of ``key``'s value on the only line of CONFIG holding
    ``marker`` (the loader points at the value)."""
    [(row, text)] = [(n, t) for n, t in enumerate(CONFIG.splitlines(), 1) if marker in t]
    return row, text.index(f"{key}: ") + len(key) + 3


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["check"],
        ["sync", "--dry-run"],
        ["status"],
        ["mapping", "preview", "-p", "people", "-r", "x.json"],
    ],
)
def test_contradictions_are_refused_with_their_position(
    config_file: Path, command: list[str]
) -> None:
    """Each contradiction is one `file:line:col: key.path: message` line with a hint; exit 2,
    nothing started (the match key's own push field in the pull pipeline is allowed)."""
    result = CliRunner().invoke(app, [*command, "--config", str(config_file)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(config_file))]
    found = [line for line in lines if ": warning:" not in line and "problem" not in line]
    assert len(found) == len(EXPECTED), "\n".join(found)
    for line, (marker, key, path, words) in zip(found, EXPECTED, strict=True):
        row, col = _position(marker, key)
        assert line.startswith(f"{config_file}:{row}:{col}: {path}: "), line
        assert words in line and ("; " in line), line  # the hint follows the "; "
    assert "nothing was started" in result.stderr


def test_the_shipped_config_has_no_contradiction() -> None:
    """The shipped config.yaml passes `check` (the contradictions are not false alarms)."""
    root = Path(__file__).resolve().parents[2]
    result = CliRunner().invoke(app, ["check", "--config", str(root / "config.yaml")])
    assert result.exit_code == 0, result.output
