"""Resolving ``${ENV_VAR}`` / ``${file:/path}`` references: the one implementation, used by
``sync`` (connections, state_url) and ``audit`` (state_url).

The rest of ``mapping`` is pure; this module reads the environment or a secret file, and
only when called.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = ["UnresolvedReference", "references", "resolve_reference"]

_REF = re.compile(r"^\$\{(?:file:(?P<file>[^}]+)|(?P<env>[A-Za-z_][A-Za-z0-9_]*))\}$")


class UnresolvedReference(Exception):
    """A reference that cannot be resolved; the message names it, never its value."""


def resolve_reference(value: str, env: Mapping[str, str] | None = None) -> str:
    """The value behind a reference, or ``value`` itself when it is a literal."""
    match = _REF.match(value.strip())
    if match is None:
        return value
    environ = os.environ if env is None else env
    if match.group("env"):
        name = match.group("env")
        if not environ.get(name):
            raise UnresolvedReference(f"environment variable {name} is not set")
        return environ[name]
    path = Path(match.group("file"))
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UnresolvedReference(f"cannot read secret file {path}: {exc.strerror}") from None


def references(config: BaseModel) -> list[tuple[tuple[str | int, ...], str]]:
    """Every ``${...}`` reference in ``config`` with its key path, in document order."""
    return list(_walk(config.model_dump(), ()))


def _walk(node: Any, loc: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(node, str):
        return [(loc, node)] if _REF.match(node.strip()) else []
    items: list[tuple[str | int, Any]] = []
    if isinstance(node, Mapping):
        items = [(str(k), v) for k, v in node.items()]
    elif isinstance(node, list | tuple):
        items = list(enumerate(node))
    return [found for key, value in items for found in _walk(value, (*loc, key))]
