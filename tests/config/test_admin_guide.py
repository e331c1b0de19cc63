"""docs/admin-guide.md (issue 20, item 8) stays complete: its secrets table names every config
key b2sync treats as a secret and every secret environment variable the code reads, its list
of refused settings matches what `check` refuses, and README links it."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from mapping.config import SECRET_KEY_RE, Config

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "admin-guide.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return GUIDE.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _models(model: type[BaseModel], seen: set[type]) -> Iterator[type[BaseModel]]:
    if model in seen:
        return
    seen.add(model)
    yield model
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            node = stack.pop()
            if isinstance(node, type) and issubclass(node, BaseModel):
                yield from _models(node, seen)
            stack.extend(typing.get_args(node))


def test_every_secret_key_and_variable_is_in_the_table() -> None:
    """Each config key named like a secret (refused inline), `hash_key`, and each secret
    variable the code reads (B2SYNC_*KEY*/*TOKEN*) has a row in the secrets table."""
    table = _section("Every secret in one table")
    keys = {
        name
        for model in _models(Config, set())
        for name in model.model_fields
        if SECRET_KEY_RE.search(name)
    } | {"hash_key"}
    assert {"token", "webhook_secret", "app_secret", "private_key", "status_token"} <= keys
    missing = sorted(k for k in keys if f"{k}`" not in table and f".{k}" not in table)
    assert not missing, f"secret config keys without a row: {missing}"
    code = "\n".join(
        p.read_text(encoding="utf-8")
        for folder in ("b2sync", "sync", "audit", "mapping", "store", "consent", "insights")
        for p in (ROOT / folder).rglob("*.py")
    )
    variables = set(re.findall(r"\bB2SYNC_[A-Z_]*(?:KEY|TOKEN|SECRET)[A-Z_]*\b", code))
    variables |= set(re.findall(r"\$\{(B2SYNC_[A-Z_]*(?:TOKEN|SECRET|SESSION_ID))\}",
                                (ROOT / "config.yaml").read_text(encoding="utf-8")))  # fmt: skip
    assert "B2SYNC_MASTER_KEY" in variables
    missing = sorted(v for v in variables if v not in table)
    assert not missing, f"secret variables without a row: {missing}"


def test_the_refused_settings_are_listed() -> None:
    """Every rule named in `check`'s contradiction messages appears in the guide's table."""
    refused = _section("Contradictory settings are refused")
    source = (ROOT / "mapping" / "config" / "_contradictions.py").read_text(encoding="utf-8")
    rules = set(re.findall(r"Rule\.(\w+)", source))
    assert rules and all(re.search(rf"\b{rule}\b", refused) for rule in rules), rules
    for words in ("direction: pull", "direction: push", "required: true"):
        assert words in refused


def test_readme_and_operations_link_the_guide() -> None:
    """README and docs/operations.md point administrators at the guide."""
    assert "docs/admin-guide.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "admin-guide.md" in (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
