"""README.md's shell examples, executed exactly as written (issue 20): every fenced
```bash / ```sh / ```console block that runs `b2sync` is run by bash, unchanged, in a fresh
directory holding the shipped config.yaml and a `.venv/bin/b2sync`; the emulators it starts
are the README's own (`b2sync emulators up`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
B2SYNC = shutil.which("b2sync", path=str(Path(sys.executable).parent)) or "b2sync"
FENCE = re.compile(r"^```(bash|sh|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)

#: README blocks not run, each with the reason (keyed by their first line)
NOT_RUN = {
    "make demo   # bootstraps .venv, starts the B2Connect/HubSpot/Salesforce emulators with a "
    "seeded shop, backfills both CRMs with progress bars, then syncs simulated shopper activity "
    "every 5 s until Ctrl-C": "runs until Ctrl-C and `make test` is this suite itself; "
    "`b2sync demo` has its own tests",
}


def shell_blocks() -> list[str]:
    """The README's shell blocks, console prompts (``$ ``) removed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = []
    for lang, body in FENCE.findall(text):
        lines = body.splitlines()
        if lang == "console":
            lines = [line[2:] for line in lines if line.startswith("$ ")]
        blocks.append("\n".join(lines))
    return blocks


def b2sync_lines(block: str) -> list[str]:
    """The block's lines that run b2sync (comments and a trailing ``&`` dropped)."""
    out = []
    for line in block.splitlines():
        command = line.split("  #", 1)[0].strip().removesuffix("&").strip()
        if re.match(r"^(\S*/)?b2sync\b", command):
            out.append(command)
    return out


def test_every_shell_block_is_run_or_listed_with_a_reason() -> None:
    """Each block that runs b2sync is executed below; any other is in NOT_RUN with a reason."""
    blocks = shell_blocks()
    assert blocks
    for block in blocks:
        first = block.splitlines()[0]
        assert b2sync_lines(block) or first in NOT_RUN, (
            f"README block neither run nor listed: {first}"
        )
    assert any("audit search" in line for block in blocks for line in b2sync_lines(block))


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in shell_blocks() if b2sync_lines(b)])
def test_readme_block_runs_as_written(block: str, tmp_path: Path) -> None:
    """bash runs the block unchanged (errexit, pipefail): every b2sync line of it runs and
    exits 0, the audit search example included; its emulators are stopped afterwards."""
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "b2sync").symlink_to(B2SYNC)
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    script = (
        "set -euo pipefail\n"
        "trap 'kill $(jobs -p) 2>/dev/null || true; wait || true' EXIT\n"
        f"{block}\n"
        "wait || true\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
    env["PATH"] = f"{Path(B2SYNC).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-x", "-c", script],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    trace = [line[2:] for line in result.stderr.splitlines() if line.startswith("+ ")]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for command in b2sync_lines(block):
        assert any(line.startswith(command) for line in trace), f"not run: {command}"
    if "audit search" in block:
        assert "Action" in result.stdout  # the audit table was printed
