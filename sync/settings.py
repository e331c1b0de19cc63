"""Load the config file from disk and resolve ``${ENV}`` / ``${file:...}`` references.

Loading also checks every B2Connect field the config names against the integration contract
(:mod:`sync.source_fields`); :func:`secret_issues` lists every reference (and the audit master
key) the current environment cannot resolve, with file:line:column, never a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from audit.errors import MasterKeyError
from audit.keys import load_master_key
from mapping.config import (
    Config,
    ConfigError,
    ConfigIssue,
    Problem,
    UnresolvedReference,
    locate,
    parse_config,
    references,
    resolve_reference,
)
from sync.source_fields import source_field_problems

__all__ = [
    "DEFAULT_CONFIG",
    "SecretError",
    "config_path",
    "issues_at",
    "load_config",
    "resolve",
    "secret_issues",
    "secret_problems",
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
    return parse_config(text, str(file), checks=(source_field_problems,))


def _io_error(file: Path, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(str(file), 1, 1, "", message)])


def resolve(value: str, env: Mapping[str, str] | None = None) -> str:
    """The value behind a reference, or ``value`` itself when it is a literal."""
    return resolve_reference(value, env)


def secret_problems(config: Config, env: Mapping[str, str] | None = None) -> list[Problem]:
    """Every reference that would fail to resolve right now, and a missing audit master key."""
    problems: list[Problem] = []
    for loc, value in references(config):
        try:
            resolve(value, env)
        except SecretError as exc:
            problems.append((loc, str(exc)))
    if config.audit.enabled:
        try:
            load_master_key(env)
        except MasterKeyError as exc:
            problems.append((("audit", "enabled"), str(exc)))
    return problems


def secret_issues(
    path: str | os.PathLike[str], config: Config, env: Mapping[str, str] | None = None
) -> list[ConfigIssue]:
    """:func:`secret_problems` with the file:line:column of each reference in ``path``."""
    return issues_at(path, secret_problems(config, env))


def issues_at(path: str | os.PathLike[str], problems: list[Problem]) -> list[ConfigIssue]:
    """``problems`` of the config read from ``path``, with their file:line:column."""
    if not problems:
        return []
    try:
        return locate(Path(path).read_text(encoding="utf-8"), str(path), problems)
    except (OSError, UnicodeDecodeError, ConfigError):  # changed meanwhile: no positions
        return [
            ConfigIssue(str(path), 1, 1, ".".join(map(str, loc)), message)
            for loc, message in problems
        ]
