"""Load the config file from disk and resolve ``${ENV}`` / ``${file:...}`` references."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mapping.config import (
    Config,
    ConfigError,
    ConfigIssue,
    UnresolvedReference,
    parse_config,
    resolve_reference,
)

__all__ = [
    "DEFAULT_CONFIG",
    "SecretError",
    "config_path",
    "load_config",
    "resolve",
    "unresolved_references",
]

DEFAULT_CONFIG = "config.yaml"


#: a reference that cannot be resolved (the message names it, never its value)
SecretError = UnresolvedReference


def config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """``--config`` if given, else ``$B2SYNC_CONFIG``, else ``./config.yaml``."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("B2SYNC_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file; :class:`ConfigError` lists every problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _io_error(file, "file not found (pass --config PATH or set B2SYNC_CONFIG)") from None
    except IsADirectoryError:
        raise _io_error(file, "is a directory, not a config file") from None
    except PermissionError:
        raise _io_error(file, "permission denied") from None
    except UnicodeDecodeError as exc:
        raise _io_error(file, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_config(text, str(file))


def _io_error(file: Path, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(str(file), 1, 1, "", message)])


def resolve(value: str, env: Mapping[str, str] | None = None) -> str:
    """The value behind a reference, or ``value`` itself when it is a literal."""
    return resolve_reference(value, env)


def unresolved_references(config: Config, env: Mapping[str, str] | None = None) -> list[str]:
    """Human-readable list of references that would fail to resolve right now."""
    problems: list[str] = []
    for name, conn in config.connections.items():
        for key, value in _string_values(conn.model_dump()):
            try:
                resolve(value, env)
            except SecretError as exc:
                problems.append(f"connections.{name}.{key}: {exc}")
    try:
        resolve(config.state_url, env)
    except SecretError as exc:
        problems.append(f"state_url: {exc}")
    return problems


def _string_values(data: Mapping[str, object], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        if isinstance(value, str):
            out.append((prefix + key, value))
        elif isinstance(value, Mapping):
            out.extend(_string_values(value, f"{prefix}{key}."))
    return out
