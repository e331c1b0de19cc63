"""Where the state store is: ``--state-url``, else the config file's ``state_url``.

``audit`` may not import ``sync``, so the tiny ``${ENV}`` / ``${file:...}`` resolution the
config format allows for ``state_url`` is repeated here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from audit.errors import AuditConfigError
from mapping.config import ConfigError, parse_config

DEFAULT_CONFIG = "config.yaml"
_REF = re.compile(r"^\$\{(?:file:(?P<file>[^}]+)|(?P<env>[A-Za-z_][A-Za-z0-9_]*))\}$")


def resolve_reference(value: str, env: Mapping[str, str] | None = None) -> str:
    """The value behind ``${ENV}`` or ``${file:PATH}``; a literal is returned as is."""
    match = _REF.match(value.strip())
    if match is None:
        return value
    environ = os.environ if env is None else env
    if match.group("env"):
        name = match.group("env")
        if not environ.get(name):
            raise AuditConfigError(f"environment variable {name} is not set")
        return environ[name]
    path = Path(match.group("file"))
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AuditConfigError(f"cannot read secret file {path}: {exc.strerror}") from None


def state_url(
    config: Path | None, explicit_url: str | None, env: Mapping[str, str] | None = None
) -> str:
    """The state store URL from ``--state-url`` or the config file (``$B2SYNC_CONFIG``)."""
    if explicit_url:
        return explicit_url
    environ = os.environ if env is None else env
    path = config or Path(environ.get("B2SYNC_CONFIG") or DEFAULT_CONFIG)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuditConfigError(
            f"{path}: cannot read the config ({exc.strerror}); pass --config or --state-url"
        ) from None
    try:
        parsed = parse_config(text, str(path))
    except ConfigError as exc:
        raise AuditConfigError(str(exc)) from None
    return resolve_reference(parsed.state_url, environ)
