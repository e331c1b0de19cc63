"""Where the state store is: ``--state-url``, else the config file's ``state_url``.

The file is read by ``mapping.config.load_config`` and references (``${ENV}`` /
``${file:...}``) resolved by ``mapping.config.resolve_reference``, as everywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from audit.errors import AuditConfigError
from mapping.config import (
    Config,
    ConfigError,
    ConfigFileError,
    UnresolvedReference,
    config_path,
    load_config,
)
from mapping.config import resolve_reference as _resolve


def resolve_reference(value: str, env: Mapping[str, str] | None = None) -> str:
    """The value behind ``${ENV}`` or ``${file:PATH}``; a literal is returned as is."""
    try:
        return _resolve(value, env)
    except UnresolvedReference as exc:
        raise AuditConfigError(str(exc)) from None


def anchor_path(
    config: Path | None, explicit: Path | None, env: Mapping[str, str] | None = None
) -> Path | None:
    """The anchor file from ``--anchor-file`` or the config's ``audit.anchor_path`` (or None).

    With neither ``--config`` nor ``$B2SYNC_CONFIG`` and no ``config.yaml`` here, None.
    """
    if explicit is not None:
        return explicit
    environ = os.environ if env is None else env
    path = config_path(config, environ)
    if config is None and not path.exists():
        return None
    value = _parse(path).audit.anchor_path
    return None if value is None else Path(resolve_reference(value, environ))


def _parse(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigFileError as exc:
        if exc.os_error is None:
            raise AuditConfigError(str(exc)) from None
        raise AuditConfigError(
            f"{path}: cannot read the config ({exc.os_error.strerror}); "
            "pass --config or --state-url"
        ) from None
    except ConfigError as exc:
        raise AuditConfigError(str(exc)) from None


def state_url(
    config: Path | None, explicit_url: str | None, env: Mapping[str, str] | None = None
) -> str:
    """The state store URL from ``--state-url`` or the config file (``$B2SYNC_CONFIG``)."""
    if explicit_url:
        return explicit_url
    environ = os.environ if env is None else env
    parsed = _parse(config_path(config, environ))
    return resolve_reference(parsed.state_url, environ)
