"""The store's key root, key fingerprints and master-key rotation.

Every key b2sync uses (keyed hashes of subjects, the data-key wrapping key, the audit chain
HMAC key, the field-hash key that tombstones use) is derived with HKDF from one 32-byte
*root*. Until the first rotation the root is the master key itself; ``b2sync keys rotate``
stores the root in ``settings`` (``key_root``) sealed with AES-GCM under a key derived from
the *new* master key. So a rotation changes no derived key: tombstones still block, the
chain still verifies, data keys still open; and the database never holds a usable key.

Each key source also leaves a *fingerprint* in ``settings`` (a keyed hash of a constant,
never the key): a process whose keys differ from the ones the store was written with is
refused with :class:`KeyChangedError` before it writes anything.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from audit.errors import KeyChangedError, MasterKeyError
from audit.keys import KEY_BYTES, MASTER_KEY_ENV, NONCE_BYTES, KeyRing, derive_key, load_master_key
from store import Setting

__all__ = [
    "OLD_MASTER_KEY_ENV",
    "OLD_MASTER_KEY_FILE_ENV",
    "ROOT_SETTING",
    "check_fingerprint",
    "get_setting",
    "load_keyring",
    "load_old_master_key",
    "put_setting",
    "rotate_master_key",
    "seal",
    "unseal",
]

OLD_MASTER_KEY_ENV = "B2SYNC_OLD_MASTER_KEY"
OLD_MASTER_KEY_FILE_ENV = "B2SYNC_OLD_MASTER_KEY_FILE"
ROOT_SETTING = "key_root"
FINGERPRINT_PREFIX = "key_fingerprint:"
AUDIT_FINGERPRINT = "audit"
_ROOT_LABEL = b"b2sync-key-root-seal-v1"
_FINGERPRINT_TEXT = "b2sync.key-fingerprint.v1"
_settings: sa.Table = Setting.__table__  # type: ignore[attr-defined]
_ROTATE_HOW = (
    f"put the previous key back in {MASTER_KEY_ENV}; or, if you rotated it on purpose, run "
    f"`b2sync keys rotate` with the previous key in {OLD_MASTER_KEY_ENV} "
    f"(or {OLD_MASTER_KEY_FILE_ENV}) and the new one in {MASTER_KEY_ENV}"
)


def get_setting(conn: sa.Connection, name: str) -> str | None:
    value = conn.execute(sa.select(_settings.c.value).where(_settings.c.name == name)).scalar()
    return None if value is None else str(value)


def put_setting(conn: sa.Connection, name: str, value: str) -> None:
    conn.execute(_settings.delete().where(_settings.c.name == name))
    conn.execute(_settings.insert().values(name=name, value=value))


def seal(key: bytes, label: bytes, name: str, secret: bytes) -> str:
    """``secret`` encrypted (AES-GCM, bound to ``name``) under HKDF(``key``, ``label``): JSON."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    box = AESGCM(derive_key(key, label)).encrypt(nonce, secret, name.encode())
    return json.dumps({"v": 1, "sealed": base64.b64encode(nonce + box).decode("ascii")})


def unseal(key: bytes, label: bytes, name: str, text: str) -> bytes:
    """The secret :func:`seal` wrote (raises ``InvalidTag`` under another key)."""
    data = base64.b64decode(json.loads(text)["sealed"])
    aead = AESGCM(derive_key(key, label))
    return aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], name.encode())


def _seal(master: bytes, root: bytes) -> str:
    return seal(master, _ROOT_LABEL, ROOT_SETTING, root)


def _unseal(master: bytes, text: str) -> bytes:
    return unseal(master, _ROOT_LABEL, ROOT_SETTING, text)


def root_of(conn: sa.Connection, master: bytes) -> bytes:
    """The key root this store uses under ``master`` (``master`` itself until a rotation).

    Raises:
        KeyChangedError: the store's root was sealed under another master key.
    """
    sealed = get_setting(conn, ROOT_SETTING)
    if sealed is None:
        return master
    try:
        return _unseal(master, sealed)
    except (InvalidTag, ValueError, KeyError) as exc:
        raise KeyChangedError(
            f"{MASTER_KEY_ENV} changed: it does not open this store's keys; {_ROTATE_HOW}"
        ) from exc


def load_keyring(conn: sa.Connection, env: Mapping[str, str] | None = None) -> KeyRing:
    """The key ring of this store under the master key of the environment.

    Checks the audit fingerprint (recording it on first use), so a changed master key is
    refused here instead of writing events and tombstones nobody can match later.

    Raises:
        MasterKeyError: no usable master key in the environment.
        KeyChangedError: the master key is not the one this store was written with.
    """
    keys = KeyRing(root_of(conn, load_master_key(env)))
    check_fingerprint(
        conn,
        AUDIT_FINGERPRINT,
        keys.sign(_FINGERPRINT_TEXT),
        what=f"the audit master key ({MASTER_KEY_ENV})",
        how=_ROTATE_HOW,
    )
    return keys


def check_fingerprint(conn: sa.Connection, name: str, value: str, *, what: str, how: str) -> None:
    """Record fingerprint ``name`` on first use; refuse a different one afterwards.

    Raises:
        KeyChangedError: naming ``what`` changed and ``how`` to recover.
    """
    stored = get_setting(conn, FINGERPRINT_PREFIX + name)
    if stored is None:
        put_setting(conn, FINGERPRINT_PREFIX + name, value)
    elif stored != value:
        raise KeyChangedError(
            f"{what} is not the key this state store was written with: erased people's "
            f"tombstones and the audit trail would no longer match; {how}"
        )


def load_old_master_key(env: Mapping[str, str] | None = None) -> bytes:
    """The previous master key, from ``B2SYNC_OLD_MASTER_KEY`` or ``_FILE`` (for rotation)."""
    environ = os.environ if env is None else env
    shifted = {
        MASTER_KEY_ENV: environ.get(OLD_MASTER_KEY_ENV, ""),
        "B2SYNC_MASTER_KEY_FILE": environ.get(OLD_MASTER_KEY_FILE_ENV, ""),
    }
    try:
        return load_master_key(shifted)
    except MasterKeyError as exc:
        message = str(exc).replace("B2SYNC_MASTER_KEY_FILE", OLD_MASTER_KEY_FILE_ENV)
        message = message.replace(MASTER_KEY_ENV, OLD_MASTER_KEY_ENV)
        raise MasterKeyError(f"the previous master key: {message}") from None


def rotate_master_key(conn: sa.Connection, old: bytes, new: bytes) -> None:
    """Re-seal the store's key root under ``new`` (in the caller's transaction).

    ``old`` must open the store (its recorded audit fingerprint must match): a wrong old
    key is refused rather than sealing a root nobody used.

    Raises:
        KeyChangedError: ``old`` is not the store's current master key.
        MasterKeyError: ``new`` is malformed or equal to ``old``.
    """
    if len(new) != KEY_BYTES:
        raise MasterKeyError(f"the new master key must be 32 bytes, got {len(new)}")
    if secrets.compare_digest(old, new):
        raise MasterKeyError(
            f"{OLD_MASTER_KEY_ENV} and {MASTER_KEY_ENV} hold the same key: nothing to rotate"
        )
    wrong = KeyChangedError(
        f"{OLD_MASTER_KEY_ENV} is not the master key this store was written with; "
        "give the key the store was last used with"
    )
    try:
        root = root_of(conn, old)
    except KeyChangedError:
        raise wrong from None
    fingerprint = KeyRing(root).sign(_FINGERPRINT_TEXT)
    stored = get_setting(conn, FINGERPRINT_PREFIX + AUDIT_FINGERPRINT)
    if stored is None:
        raise KeyChangedError(
            "this store has no record of its master key yet, so the previous key cannot be "
            "checked: run any command (e.g. `b2sync audit verify`) with the current key first"
        )
    if stored != fingerprint:
        raise wrong
    put_setting(conn, ROOT_SETTING, _seal(new, root))
    put_setting(conn, FINGERPRINT_PREFIX + AUDIT_FINGERPRINT, fingerprint)
