"""Tenants: one deployment serving many shops, each with its own config.

``tenants.yaml`` names each tenant and its config file::

    tenants:
      - {id: acme, config: tenants/acme.yaml, base: base.yaml, env_prefix: ACME_}
      - {id: globex, config: tenants/globex.yaml, base: base.yaml, secrets_dir: /run/secrets/globex}

A deployment without a tenants file has one tenant, ``default``, whose config is the usual
``--config`` file. Workers, the scheduler and the HTTP service look tenants up here by id.

- **Base and overrides**: a tenant's config is its ``base`` (the entry's ``base:``, or a
  ``base:`` key at the top of the tenant's file; paths relative to the file naming them) deep-
  merged with the tenant's own file: mappings merge key by key, lists of named items
  (``pipelines``) merge by ``name``, anything else in the tenant file replaces the base's.
- **Its rows only**: each tenant's file names its ``state_url``. Every row carries its tenant
  (``b2sync_tenant``) and the store scopes every query by it: tenants may share one
  PostgreSQL database (row-level security; the role must not bypass it), a SQLite file holds
  one tenant (two tenants naming one file is refused). See docs/scale-out.md.
- **Its own secrets**: secrets stay references (``${NAME}``). With ``env_prefix: ACME_`` the
  tenant's ``${NAME}`` reads ``ACME_NAME``; with ``secrets_dir: DIR`` it reads the file
  ``DIR/NAME``. A base file shared by every tenant can then name one set of variables.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from mapping.config import (
    Config,
    ConfigError,
    ConfigIssue,
    UnresolvedReference,
    load_config,
    parse_config,
    resolve_reference,
)
from store import DEFAULT_TENANT, StoreTenantError, check_rls_role, make_engine, unavailable

__all__ = [
    "DEFAULT_TENANT",
    "TENANT_ID",
    "Tenant",
    "Tenants",
    "check_stores",
    "load_tenants",
    "merge",
    "single_tenant",
]

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


_ENV_REF = re.compile(r"\$\{(?!file:)([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Tenant:
    """One shop: its id, the path of its config file, its base and where its secrets are."""

    id: str
    config_path: Path
    base: Path | None = None
    env_prefix: str | None = None
    secrets_dir: Path | None = None

    def config(self) -> Config:
        """The tenant's validated config (read on each call: a reload sees edits)."""
        plain = self.base is None and self.env_prefix is None and self.secrets_dir is None
        if plain and _own_base(self.config_path) is None:
            return load_config(self.config_path)
        return parse_config(self.config_text(), str(self.config_path))

    def config_text(self) -> str:
        """The tenant's config as YAML: base merged with overrides, references rewritten."""
        tree = _read_yaml(self.config_path)
        base = self.base or _own_base(self.config_path)
        if base is not None:
            tree.pop("base", None)
            tree = merge(_read_base(base), tree)
        out = io.StringIO()
        YAML(typ="rt").dump(tree, out)
        return _ENV_REF.sub(self._reference, out.getvalue())

    def config_file(self, folder: Path) -> Path:
        """A file holding the tenant's whole config (its own file when it has no base and no
        secret rewriting; else the merged text, references only, written under ``folder``)."""
        plain = self.base is None and self.env_prefix is None and self.secrets_dir is None
        if plain and _own_base(self.config_path) is None:
            return self.config_path
        target = folder / f"{self.id}.config.yaml"
        target.write_text(self.config_text(), encoding="utf-8")
        return target

    def _reference(self, match: re.Match[str]) -> str:
        name = match.group(1)
        if self.secrets_dir is not None:
            return f"${{file:{self.secrets_dir / name}}}"
        return f"${{{self.env_prefix or ''}{name}}}"


def merge(base: Any, override: Any) -> Any:
    """``override`` deep-merged onto ``base``: mappings key by key, lists of named mappings by
    ``name`` (a tenant's pipeline overrides the base's pipeline of that name), else override."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list) and _named(base) and _named(override):
        by_name = {item["name"]: item for item in base}
        for item in override:
            name = item["name"]
            by_name[name] = merge(by_name[name], item) if name in by_name else item
        return list(by_name.values())
    return override


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


#: parsed base files by (path, digest of the content): the tenants of a deployment share a
#: few bases, so a worker building each tenant's runner parses each base once (reading the
#: file is cheap, parsing it is not; a timestamp could miss a quick same-size edit)
_BASES: dict[tuple[str, str], Any] = {}
_BASES_KEPT = 16


def _read_base(path: Path) -> Any:
    """The base file's tree, parsed again only when the file changed. :func:`merge` copies
    what it changes, so the cached tree is never altered."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return _read_yaml(path)  # names the problem
    key = (str(path.resolve()), digest)
    tree = _BASES.get(key)
    if tree is None:
        tree = _read_yaml(path)
        if len(_BASES) >= _BASES_KEPT:
            del _BASES[next(iter(_BASES))]  # the oldest
        _BASES[key] = tree
    return tree


def _read_yaml(path: Path) -> Any:
    try:
        tree = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise _issue(path, 1, f"cannot be read ({exc})") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _issue(path, (mark.line + 1) if mark else 1, f"not valid YAML: {exc}") from None
    if not isinstance(tree, dict):
        raise _issue(path, 1, "expected a mapping at the top")
    return tree


def _own_base(path: Path) -> Path | None:
    """The ``base:`` a tenant's file names at its top, resolved against its folder."""
    try:
        tree = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return None
    if isinstance(tree, dict) and isinstance(tree.get("base"), str):
        return (path.parent / str(tree["base"])).resolve()
    return None


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
        tenants[tenant_id] = Tenant(
            tenant_id,
            (file.parent / str(entry["config"])).resolve(),
            base=(file.parent / str(entry["base"])).resolve() if entry.get("base") else None,
            env_prefix=str(entry["env_prefix"]) if entry.get("env_prefix") else None,
            secrets_dir=(
                (file.parent / str(entry["secrets_dir"])).resolve()
                if entry.get("secrets_dir")
                else None
            ),
        )
    return Tenants(tenants)


def check_stores(tenants: Tenants) -> None:
    """Refuse stores that would mix tenants' rows.

    Tenants may share a PostgreSQL database (or schema): every row carries its tenant and
    row-level security scopes every query, so the shared store's role must be one the policies
    apply to (not SUPERUSER, not BYPASSRLS); it is checked here, before anything starts. Two
    tenants naming one SQLite file are refused: SQLite has no row-level security.
    """
    seen: dict[str, str] = {}
    shared: dict[str, list[str]] = {}
    for tenant_id in tenants.ids():
        tenant = tenants.get(tenant_id)
        url = _store_url(tenant.config().state_url)
        if url in seen and url.startswith("sqlite"):
            raise _issue(
                tenant.config_path, 1,
                f"tenant {tenant_id!r} names the state store of tenant {seen[url]!r}: a SQLite "
                "file holds one tenant (no row-level security); give each tenant its own "
                "file, or put the tenants in one PostgreSQL database",
            )  # fmt: skip
        if url in seen:
            shared.setdefault(url, [seen[url]]).append(tenant_id)
        seen[url] = tenant_id
    for url, sharing in shared.items():
        _check_shared_role(tenants.get(sharing[-1]).config_path, url, sharing)


def _store_url(url: str) -> str:
    """The state URL with its reference resolved (as written when it cannot be yet)."""
    try:
        return resolve_reference(url)
    except UnresolvedReference:
        return url


def _check_shared_role(path: Path, url: str, sharing: list[str]) -> None:
    engine = make_engine(url, tenant=sharing[0])
    try:
        with engine.connect() as conn:
            check_rls_role(conn)
    except (sa.exc.DBAPIError, OSError) as exc:
        who = ", ".join(repr(t) for t in sharing)
        problem = unavailable(engine.url, exc)
        raise _issue(path, 1, f"tenants {who} share a PostgreSQL store: {problem}") from None
    except StoreTenantError as exc:
        who = ", ".join(repr(t) for t in sharing)
        raise _issue(path, 1, f"tenants {who} share a PostgreSQL store: {exc}") from None
    finally:
        engine.dispose()
