"""Where the state store is: ``--state-url``, else the config file's ``state_url``.

References (``${ENV}`` / ``${file:...}``) are resolved by ``mapping.config.resolve_reference``,
the same function ``sync`` uses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from audit.errors import AuditConfigError
from mapping.config import ConfigError, UnresolvedReference, parse_config
from mapping.config import resolve_reference as _resolve

DEFAULT_CONFIG = "config.yaml"


def resolve_reference(value: str, env: Mapping[str, str] | None = None) -> str:
    """The value behind ``${ENV}`` or ``${file:PATH}``; a literal is returned as is."""
    try:
        return _resolve(value, env)
    except UnresolvedReference as exc:
        raise AuditConfigError(str(exc)) from None


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
