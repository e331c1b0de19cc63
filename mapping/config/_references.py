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

__all__ = ["UnresolvedReference", "resolve_reference"]

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
