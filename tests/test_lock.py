"""Supply chain: both locks pin every distribution by hash, and the image installs no dev tools."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", re.MULTILINE)
DEV_TOOLS = {"pytest", "ruff", "mypy", "hypothesis", "responses", "time-machine"}


def _pins(name: str) -> dict[str, str]:
    return dict(_PIN.findall((ROOT / name).read_text(encoding="utf-8")))


def _entries(name: str) -> list[str]:
    """One text block per pinned distribution (its line and its continuation lines)."""
    text = (ROOT / name).read_text(encoding="utf-8")
    return [block for block in re.split(r"\n(?=[a-z0-9])", text) if _PIN.match(block)]


def test_every_pin_carries_a_sha256_hash() -> None:
    """pip runs in --require-hashes mode: a pin without a hash would fail the install."""
    for name in ("requirements.lock", "requirements-runtime.lock"):
        entries = _entries(name)
        assert entries, name
        unhashed = [e.split()[0] for e in entries if "--hash=sha256:" not in e]
        assert unhashed == [], name


def test_runtime_lock_has_no_dev_tools_and_the_same_versions() -> None:
    """The image's lock is a subset of the dev lock, at the same versions, without dev tools."""
    runtime, dev = _pins("requirements-runtime.lock"), _pins("requirements.lock")
    assert DEV_TOOLS & set(runtime) == set()
    assert set(dev) >= DEV_TOOLS
    assert {name: dev.get(name) for name in runtime} == runtime


def test_image_installs_the_runtime_lock_by_hash() -> None:
    """The Dockerfile installs requirements-runtime.lock with --require-hashes, nothing else."""
    installs = [
        line for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if "pip install" in line
    ]  # fmt: skip
    assert any(
        "--require-hashes" in line and "-r requirements-runtime.lock" in line for line in installs
    )
    assert all("requirements.lock" not in line and "[dev]" not in line for line in installs)
