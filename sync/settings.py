"""The engine's view of the config file: loaded by :func:`mapping.config.load_config`.

Loading here also checks every B2Connect field the config names against the integration contract
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
    DEFAULT_CONFIG,
    Config,
    ConfigError,
    ConfigIssue,
    Problem,
    UnresolvedReference,
    config_path,
    locate,
    references,
    resolve_reference,
)
from mapping.config import load_config as load_config_file
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

#: a reference that cannot be resolved (the message names it, never its value)
SecretError = UnresolvedReference


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file, B2Connect fields checked against the contract."""
    return load_config_file(path, checks=(source_field_problems,))


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
