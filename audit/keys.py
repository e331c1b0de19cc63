"""Master key, keyed hashes and per-subject data keys (crypto-shredding).

The master key comes from ``B2SYNC_MASTER_KEY`` (base64 of 32 bytes) or from the file named
by ``B2SYNC_MASTER_KEY_FILE``, never from the config file. Two keys are derived from it with
HKDF: one for keyed hashes (subjects, record keys), one to wrap the subjects' data keys.
A data key is random, stored wrapped (AES-GCM) in ``subject_keys``; shredding deletes it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from audit._chain import aliases_table, bulk_insert
from audit.errors import LegalHoldError, MasterKeyError
from mapping import normalise_email
from store import SubjectKey, utc_now

MASTER_KEY_ENV = "B2SYNC_MASTER_KEY"
MASTER_KEY_FILE_ENV = "B2SYNC_MASTER_KEY_FILE"
KEY_BYTES = 32
NONCE_BYTES = 12
#: unwrapped data keys a key ring keeps (the most recently used): several flushes' subjects,
#: so a backfill unwraps each person's key about once per pipeline, and the cache stays the
#: same size at 10,000 or 1,000,000 people (a miss costs one row read and one unwrap)
KEY_CACHE_SIZE = 10_000
_HOW = (
    f"set {MASTER_KEY_ENV} to base64 of 32 random bytes "
    f"(e.g. `openssl rand -base64 32`) or {MASTER_KEY_FILE_ENV} to a file holding it"
)
_keys: sa.Table = SubjectKey.__table__  # type: ignore[attr-defined]
_HELD = (
    "this subject is under legal hold; lift it with `b2sync audit hold --subject ... --off` "
    "once the hold has ended, then shred again"
)


def load_master_key(env: Mapping[str, str] | None = None) -> bytes:
    """The 32-byte master key from the environment.

    Raises:
        MasterKeyError: neither variable is set, the file is unreadable or the key malformed.
    """
    environ = os.environ if env is None else env
    text = environ.get(MASTER_KEY_ENV, "").strip()
    source = MASTER_KEY_ENV
    if not text and environ.get(MASTER_KEY_FILE_ENV):
        path = Path(environ[MASTER_KEY_FILE_ENV])
        source = f"{MASTER_KEY_FILE_ENV} ({path})"
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise MasterKeyError(f"cannot read {source}: {exc.strerror}") from None
    if not text:
        raise MasterKeyError(f"the audit master key is not set: {_HOW}")
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"{source} is not valid base64: {_HOW}") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"{source} decodes to {len(key)} bytes, not 32: {_HOW}")
    return key


def normalise_subject(identifier: str) -> str:
    """An email is stripped and lower-cased; any other identifier (customer id) stripped."""
    value = identifier.strip()
    return normalise_email(value) if "@" in value else value


def derive_key(master: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 of ``master`` with the label ``info`` (32 bytes)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)


class KeyRing:
    """Keyed hashes and data keys for one master key; the ``cache_size`` most recently used
    unwrapped keys are cached per process (:data:`KEY_CACHE_SIZE`)."""

    def __init__(self, master_key: bytes, *, cache_size: int = KEY_CACHE_SIZE) -> None:
        if len(master_key) != KEY_BYTES:
            raise MasterKeyError(f"the master key must be 32 bytes, got {len(master_key)}")
        self._hash_key = derive_key(master_key, b"b2sync-audit-hash-v1")
        self._wrap = AESGCM(derive_key(master_key, b"b2sync-audit-wrap-v1"))
        #: HMAC key of the event chain, signed markers and anchors (never stored anywhere)
        self.chain_key = derive_key(master_key, b"b2sync-audit-chain-v1")
        #: key that seals secrets b2sync keeps in ``settings`` (a legacy field-hash key)
        self.seal_key = derive_key(master_key, b"b2sync-store-seal-v1")
        # raw data keys (32 bytes each), not AESGCM objects: those hold an OpenSSL context of
        # several KB, which made a 100k-person backfill keep ~0.5 GB of ciphers alive; and
        # at most cache_size of them, least recently used out first (the pipelines share it)
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._cache_lock = threading.Lock()
        #: tenants whose chain this process found keyed or marked (see audit.anchors)
        self.keyed_tenants: set[str] = set()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KeyRing:
        """A key ring on :func:`load_master_key`."""
        return cls(load_master_key(env))

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 (hex) of ``value`` under the derived hash key."""
        return hmac.digest(self._hash_key, value.encode("utf-8"), "sha256").hex()

    def sign(self, text: str) -> str:
        """HMAC-SHA256 (hex) of ``text`` under the chain key: markers, anchors, fingerprints."""
        return hmac.digest(self.chain_key, text.encode("utf-8"), "sha256").hex()

    def subject_hash(self, identifier: str) -> str:
        """The searchable keyed hash of a subject's normalised identifier."""
        return self.keyed_hash("subject:" + normalise_subject(identifier))

    def record_key_hash(self, stream: str, key: str) -> str:
        """The keyed hash of a record key within its stream."""
        return self.keyed_hash(f"record:{stream}:{key}")

    @property
    def cached_keys(self) -> int:
        """How many unwrapped data keys this ring holds now (at most its cache size)."""
        return len(self._cache)

    def cipher(self, key_id: str) -> AESGCM | None:
        """The cipher of a data key, if this process has unwrapped it (and still caches it:
        use :meth:`ciphers` to be sure)."""
        raw = self._cached(key_id)
        return None if raw is None else AESGCM(raw)

    def forget(self, key_id: str) -> None:
        """Drop a cached data key (after shredding)."""
        with self._cache_lock:
            self._cache.pop(key_id, None)

    def _cached(self, key_id: str) -> bytes | None:
        with self._cache_lock:
            raw = self._cache.get(key_id)
            if raw is not None:
                self._cache.move_to_end(key_id)
            return raw

    def _remember(self, key_id: str, raw: bytes) -> None:
        with self._cache_lock:
            self._cache[key_id] = raw
            self._cache.move_to_end(key_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def ciphers(
        self, conn: sa.Connection, key_ids: Iterable[str], *, create: bool, now: datetime
    ) -> dict[str, AESGCM | None]:
        """Data-key ciphers by key id; None for shredded keys.

        One query for the whole set; missing keys are created (``create=True``) or
        reported as None. A shredded key is never re-created.
        """
        wanted = set(key_ids)
        if not wanted:
            return {}
        rows = conn.execute(
            sa.select(_keys.c.subject_hash, _keys.c.wrapped_key).where(
                _keys.c.subject_hash.in_(wanted)
            )
        ).all()
        out: dict[str, AESGCM | None] = {}
        for key_id, wrapped in rows:
            out[key_id] = self._unwrap(key_id, wrapped)
        missing = sorted(wanted - out.keys())
        if missing and create:
            new_rows = []
            for key_id in missing:
                raw = secrets.token_bytes(KEY_BYTES)
                new_rows.append(
                    {"subject_hash": key_id, "wrapped_key": self._wrap_key(key_id, raw)}
                )
                self._remember(key_id, raw)
                out[key_id] = AESGCM(raw)
            bulk_insert(
                conn, _keys, [{**row, "created_at": now, "legal_hold": False} for row in new_rows]
            )
        return out

    def new_keys(self, key_ids: Iterable[str]) -> tuple[list[dict[str, Any]], dict[str, AESGCM]]:
        """Fresh data keys for ``key_ids``, not stored yet: their rows (wrapped, for
        :meth:`store_new_keys`) and their ciphers. Nothing is cached until they are stored."""
        rows: list[dict[str, Any]] = []
        out: dict[str, AESGCM] = {}
        for key_id in sorted(set(key_ids)):
            raw = secrets.token_bytes(KEY_BYTES)
            rows.append({"subject_hash": key_id, "wrapped_key": self._wrap_key(key_id, raw)})
            out[key_id] = AESGCM(raw)
        return rows, out

    def stored(self, conn: sa.Connection, key_ids: Iterable[str]) -> dict[str, bool]:
        """Which of ``key_ids`` have a key row now: True live, False shredded (absent: none)."""
        wanted = set(key_ids)
        if not wanted:
            return {}
        rows = conn.execute(
            sa.select(_keys.c.subject_hash, _keys.c.wrapped_key.is_(None)).where(
                _keys.c.subject_hash.in_(wanted)
            )
        ).all()
        return {key_id: not shredded for key_id, shredded in rows}

    def store_new_keys(
        self, conn: sa.Connection, rows: list[dict[str, Any]], *, now: datetime
    ) -> None:
        """Insert keys made by :meth:`new_keys` in the caller's transaction."""
        bulk_insert(conn, _keys, [{**row, "created_at": now, "legal_hold": False} for row in rows])

    def _wrap_key(self, key_id: str, raw: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._wrap.encrypt(nonce, raw, key_id.encode())

    def _unwrap(self, key_id: str, wrapped: bytes | None) -> AESGCM | None:
        if wrapped is None:
            self.forget(key_id)
            return None
        raw = self._cached(key_id)
        if raw is None:
            raw = self._wrap.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], key_id.encode())
            self._remember(key_id, raw)
        return AESGCM(raw)


def aliased_subjects(conn: sa.Connection, keys: KeyRing, identifier: str) -> list[str]:
    """Subject hashes whose events recorded ``identifier`` (an email) as theirs."""
    wanted = keys.subject_hash(identifier)
    rows = conn.execute(
        sa.select(aliases_table.c.subject_hash).where(aliases_table.c.alias_hash == wanted)
    )
    return sorted({str(h) for (h,) in rows} - {wanted})


def shred(conn: sa.Connection, keys: KeyRing, subject: str, *, now: datetime | None = None) -> bool:
    """Destroy a subject's data key; their events stay but their values read ``[erased]``.

    Returns False when the subject had no key yet (a shredded row is still written, so no
    later event can create one). Raises :class:`LegalHoldError` under legal hold. An email
    also shreds the keys of the customers whose events recorded it (their aliases).
    """
    aliased = aliased_subjects(conn, keys, subject)
    held = conn.execute(
        sa.select(_keys.c.subject_hash).where(
            _keys.c.subject_hash.in_(aliased), _keys.c.legal_hold.is_(True)
        )
    ).first()
    if held is not None:
        raise LegalHoldError(_HELD)
    when = now or utc_now()
    shredded_alias = False
    for key_id in aliased:
        keys.forget(key_id)
        shredded_alias |= bool(
            conn.execute(
                _keys.update()
                .where(_keys.c.subject_hash == key_id, _keys.c.wrapped_key.is_not(None))
                .values(wrapped_key=None, shredded_at=when)
            ).rowcount
        )
    return _shred_one(conn, keys, keys.subject_hash(subject), when) or shredded_alias


def _shred_one(conn: sa.Connection, keys: KeyRing, key_id: str, when: datetime) -> bool:
    row = conn.execute(
        sa.select(_keys.c.legal_hold, _keys.c.wrapped_key).where(_keys.c.subject_hash == key_id)
    ).first()
    keys.forget(key_id)
    if row is None:
        conn.execute(
            _keys.insert().values(
                subject_hash=key_id,
                wrapped_key=None,
                created_at=when,
                shredded_at=when,
                legal_hold=False,
            )
        )
        return False
    if row.legal_hold:
        raise LegalHoldError(_HELD)
    conn.execute(
        _keys.update()
        .where(_keys.c.subject_hash == key_id, _keys.c.wrapped_key.is_not(None))
        .values(wrapped_key=None, shredded_at=when)
    )
    return row.wrapped_key is not None


def set_legal_hold(conn: sa.Connection, keys: KeyRing, subject: str, *, on: bool = True) -> None:
    """Put a subject under legal hold (or lift it): no shredding, no retention purge. An
    email also holds (or releases) the customers whose events recorded it."""
    for key_id in [keys.subject_hash(subject), *aliased_subjects(conn, keys, subject)]:
        _hold_one(conn, keys, key_id, on=on)


def _hold_one(conn: sa.Connection, keys: KeyRing, key_id: str, *, on: bool) -> None:
    updated = conn.execute(
        _keys.update().where(_keys.c.subject_hash == key_id).values(legal_hold=on)
    ).rowcount
    if not updated:
        keys.ciphers(conn, [key_id], create=True, now=utc_now())
        conn.execute(_keys.update().where(_keys.c.subject_hash == key_id).values(legal_hold=on))
