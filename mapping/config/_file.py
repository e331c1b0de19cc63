"""Where the config file is and how it is read: the one loader every layer uses.

Reading fails with :class:`ConfigFileError` (a :class:`ConfigError` that keeps the
:class:`OSError` behind it, so a caller may word the problem its own way).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from mapping.config._loader import ConfigCheck, ConfigError, ConfigIssue, parse_config
from mapping.config._models import Config

__all__ = ["DEFAULT_CONFIG", "ConfigFileError", "config_path", "load_config"]

DEFAULT_CONFIG = "config.yaml"


class ConfigFileError(ConfigError):
    """The config file cannot be read; ``os_error`` is the cause when it is an OS error."""

    def __init__(self, file: Path, message: str, os_error: OSError | None = None) -> None:
        super().__init__([ConfigIssue(str(file), 1, 1, "", message)])
        self.os_error = os_error


def config_path(
    explicit: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> Path:
    """``--config`` if given, else ``$B2SYNC_CONFIG``, else ``./config.yaml``."""
    if explicit:
        return Path(explicit)
    environ = os.environ if env is None else env
    return Path(environ.get("B2SYNC_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str], checks: Sequence[ConfigCheck] = ()) -> Config:
    """Read and validate a config file; :class:`ConfigError` lists every problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigFileError(
            file, "file not found (pass --config PATH or set B2SYNC_CONFIG)", exc
        ) from None
    except IsADirectoryError as exc:
        raise ConfigFileError(file, "is a directory, not a config file", exc) from None
    except PermissionError as exc:
        raise ConfigFileError(file, "permission denied", exc) from None
    except OSError as exc:
        raise ConfigFileError(file, f"cannot be read ({exc.strerror})", exc) from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(file, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_config(text, str(file), checks=checks)
