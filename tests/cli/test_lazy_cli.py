"""``b2sync --help`` starts without the heavy modules; the lazy command table matches the
real commands (help lines, names), so it cannot drift from the modules it points at."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

import b2sync.cli
from b2sync.cli import COMMANDS, app
from b2sync.cli.lazy import load

ROOT = Path(__file__).resolve().parents[2]
#: what only the commands themselves need (SDKs, database, web server, crypto)
HEAVY = (
    "hubspot",
    "simple_salesforce",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "starlette",
    "uvicorn",
    "cryptography",
    "apscheduler",
    "celery",
)


def _imported(args: list[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime daemon.py ARGS``; the top-level packages it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "daemon.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    names = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done, names


def test_help_imports_no_heavy_module() -> None:
    """`b2sync --help` lists every command and imports none of the SDKs, SQLAlchemy,
    Alembic, Starlette or cryptography."""
    done, names = _imported(["--help"])
    assert done.returncode == 0, done.stderr[-2000:]
    for entry in COMMANDS:
        assert entry.name in done.stdout
    assert sorted(names & set(HEAVY)) == []


def test_table_help_matches_each_command() -> None:
    """Each table entry's help line is the real command's first help paragraph."""
    for entry in COMMANDS:
        real = load(entry)
        text = (real.short_help or real.help or "").split("\n\n")[0]
        assert " ".join(text.split()) == entry.help, entry.name


def test_every_command_of_the_cli_modules_is_in_the_table() -> None:
    """A command added to a module's top-level ``commands`` Typer, or a new group Typer,
    must be listed in COMMANDS (else it would silently vanish from the CLI)."""
    listed = {(e.module, e.attribute) for e in COMMANDS}
    names = {e.name for e in COMMANDS}
    for info in pkgutil.iter_modules(b2sync.cli.__path__, "b2sync.cli."):
        module = importlib.import_module(info.name)
        for attribute, value in vars(module).items():
            if not isinstance(value, typer.Typer) or info.name == "b2sync.cli":
                continue
            assert (info.name, attribute) in listed, f"{info.name}.{attribute} not in COMMANDS"
            if attribute == "commands":
                for command in value.registered_commands:
                    name = command.name or (command.callback.__name__ if command.callback else "")
                    assert name.replace("_", "-") in names, f"{name} not in COMMANDS"


def test_lazy_root_runs_a_group_command() -> None:
    """Through the lazy root a group's command runs as before (its module loaded then)."""
    result = CliRunner().invoke(app, ["config", "schema"])
    assert result.exit_code == 0, result.output
    assert '"$schema"' in result.output or '"properties"' in result.output
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    assert group.list_commands(typer.Context(group))[0] == "check"
