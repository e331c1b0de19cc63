"""Tenants: one deployment serving many shops, each with its own config.

``tenants.yaml`` names each tenant and its config file::

    tenants:
      - {id: acme, config: tenants/acme.yaml}
      - {id: globex, config: tenants/globex.yaml}

A deployment without a tenants file has one tenant, ``default``, whose config is the usual
``--config`` file. Workers, the scheduler and the HTTP service look tenants up here by id.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from mapping.config import Config, ConfigError, ConfigIssue, load_config

__all__ = ["DEFAULT_TENANT", "TENANT_ID", "Tenant", "Tenants", "load_tenants", "single_tenant"]

DEFAULT_TENANT = "default"
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class Tenant:
    """One shop: its id and the path of its config file."""

    id: str
    config_path: Path

    def config(self) -> Config:
        """The tenant's validated config (read on each call: a reload sees edits)."""
        return load_config(self.config_path)


@dataclass(frozen=True)
class Tenants:
    """The tenants of a deployment, by id."""

    by_id: dict[str, Tenant]

    def ids(self) -> list[str]:
        return sorted(self.by_id)

    def get(self, tenant_id: str) -> Tenant:
        try:
            return self.by_id[tenant_id]
        except KeyError:
            raise KeyError(f"unknown tenant {tenant_id!r}") from None


def single_tenant(config_path: str | os.PathLike[str]) -> Tenants:
    """The one-tenant deployment of a plain ``--config`` file."""
    return Tenants({DEFAULT_TENANT: Tenant(DEFAULT_TENANT, Path(config_path))})


def _issue(file: Path, line: int, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(str(file), line, 1, "tenants", message)])


def load_tenants(path: str | os.PathLike[str]) -> Tenants:
    """Read ``tenants.yaml``; config paths are relative to its folder. Raises
    :class:`ConfigError` with file and line for an unreadable file, a bad or duplicate id."""
    file = Path(path)
    try:
        raw = YAML(typ="rt").load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise _issue(file, 1, f"cannot be read ({exc})") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _issue(file, (mark.line + 1) if mark else 1, f"not valid YAML: {exc}") from None
    entries = raw.get("tenants") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise _issue(file, 1, "expected `tenants:` with a list of {id, config}")
    tenants: dict[str, Tenant] = {}
    for index, entry in enumerate(entries):
        line = entries.lc.item(index)[0] + 1 if hasattr(entries, "lc") else 1
        if not isinstance(entry, dict) or "id" not in entry or "config" not in entry:
            raise _issue(file, line, "each tenant needs `id` and `config`")
        tenant_id = str(entry["id"])
        if not TENANT_ID.match(tenant_id):
            raise _issue(file, line, f"tenant id {tenant_id!r}: use a-z, 0-9 and -, 40 at most")
        if tenant_id in tenants:
            raise _issue(file, line, f"tenant id {tenant_id!r} appears twice")
        tenants[tenant_id] = Tenant(tenant_id, (file.parent / str(entry["config"])).resolve())
    return Tenants(tenants)
