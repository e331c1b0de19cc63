"""Signed chain markers in ``settings`` and signed chain heads in an append-only file.

Three markers live in ``settings``, one per tenant, each carrying an HMAC (``mac``) under the
chain key so that a database writer cannot forge or move them:

* ``audit_keyed:<tenant>``: the first event hashed with the key. Events before it were
  written by an older version with plain SHA-256 and verify as *legacy*; the first keyed
  event links to the last legacy hash, so the legacy part cannot be rewritten either.
  Written once, automatically, by the first keyed append to a legacy chain.
* ``audit_purged:<tenant>``: the first event a retention purge kept.
* ``audit_anchor:<tenant>``: the last anchored head (detects a truncated tail).

The anchor *file* (``audit.anchor_path``) is outside the database: :func:`append_heads`
appends one signed JSON line per tenant head, and :func:`read_heads` gives the newest valid
line per tenant (and the lines whose signature is wrong). A rewrite of the whole database,
markers included, still disagrees with the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from audit.keys import KeyRing
from store import Setting

ANCHOR_PREFIX: Final = "audit_anchor:"
PURGED_PREFIX: Final = "audit_purged:"
KEYED_PREFIX: Final = "audit_keyed:"
FILE_MODE: Final = 0o600
_settings: sa.Table = Setting.__table__  # type: ignore[attr-defined]


def _mac(keys: KeyRing, name: str, value: dict[str, Any]) -> str:
    body = {k: v for k, v in value.items() if k != "mac"}
    return keys.sign(name + "\x1f" + json.dumps(body, sort_keys=True, separators=(",", ":")))


def signed(keys: KeyRing, name: str, value: dict[str, Any]) -> dict[str, Any]:
    """``value`` with its ``mac`` under the chain key (bound to the setting's name)."""
    return {**value, "mac": _mac(keys, name, value)}


def is_signed(keys: KeyRing, name: str, value: dict[str, Any]) -> bool:
    """Whether ``value`` carries a valid ``mac`` for ``name``."""
    return isinstance(value.get("mac"), str) and value["mac"] == _mac(keys, name, value)


def put_signed(conn: sa.Connection, keys: KeyRing, name: str, value: dict[str, Any]) -> None:
    """Insert or replace one signed JSON value in ``settings``."""
    text = json.dumps(signed(keys, name, value), sort_keys=True)
    conn.execute(_settings.delete().where(_settings.c.name == name))
    conn.execute(_settings.insert().values(name=name, value=text))


def get_value(conn: sa.Connection, name: str) -> dict[str, Any] | None:
    """One JSON setting, or None."""
    text = conn.execute(sa.select(_settings.c.value).where(_settings.c.name == name)).scalar()
    return None if text is None else dict(json.loads(text))


def by_tenant(conn: sa.Connection, prefix: str) -> dict[str, dict[str, Any]]:
    """Every ``<prefix><tenant>`` JSON setting by tenant."""
    rows = conn.execute(
        sa.select(_settings.c.name, _settings.c.value).where(_settings.c.name.startswith(prefix))
    ).all()
    return {name[len(prefix) :]: json.loads(value) for name, value in rows}


def mark_keyed(conn: sa.Connection, keys: KeyRing, tenant: str, head_seq: int) -> None:
    """Record that a tenant's legacy chain (head ``head_seq``) goes on keyed from here.

    Called before the first keyed append to a chain whose head is legacy (an empty or
    already keyed chain gets no marker: every event must then verify keyed). An unsigned
    purge marker written by the older version is signed at the same time (it is trusted as
    of this migration).
    """
    name = KEYED_PREFIX + tenant
    if get_value(conn, name) is not None:
        return
    put_signed(conn, keys, name, {"seq": head_seq + 1})
    purged = get_value(conn, PURGED_PREFIX + tenant)
    if purged is not None and "mac" not in purged:
        put_signed(conn, keys, PURGED_PREFIX + tenant, {"seq": int(purged["seq"])})


@dataclass
class FileHeads:
    """What an anchor file says: the newest valid head per tenant, and the bad lines."""

    heads: dict[str, dict[str, Any]] = field(default_factory=dict)
    bad_lines: list[int] = field(default_factory=list)


def append_heads(path: Path, keys: KeyRing, heads: Iterable[dict[str, Any]]) -> int:
    """Append one signed line per head (``tenant``, ``seq``, ``hash``, ``at``) to ``path``.

    The file is created ``0600`` and opened for appending only; returns the lines written.
    """
    lines = [
        json.dumps(signed(keys, "anchor:" + str(h["tenant"]), dict(h)), sort_keys=True)
        for h in heads
    ]
    if not lines:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))
        out.flush()
        os.fsync(out.fileno())
    return len(lines)


def read_heads(path: Path, keys: KeyRing) -> FileHeads:
    """The newest correctly signed head per tenant in ``path`` (missing file: none)."""
    found = FileHeads()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return found
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            tenant = str(value["tenant"])
        except (ValueError, KeyError, TypeError):
            found.bad_lines.append(number)
            continue
        if not is_signed(keys, "anchor:" + tenant, value):
            found.bad_lines.append(number)
            continue
        previous = found.heads.get(tenant)
        if previous is None or int(value["seq"]) >= int(previous["seq"]):
            found.heads[tenant] = {**value, "line": number}
    return found
