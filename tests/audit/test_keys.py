"""The master key comes from the environment, with clear errors."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from audit import KeyRing, MasterKeyError, load_master_key

KEY = bytes(range(32))


def test_key_from_env() -> None:
    """B2SYNC_MASTER_KEY holds base64 of 32 bytes."""
    assert load_master_key({"B2SYNC_MASTER_KEY": base64.b64encode(KEY).decode()}) == KEY


def test_key_from_file(tmp_path: Path) -> None:
    """B2SYNC_MASTER_KEY_FILE names a file holding it."""
    path = tmp_path / "master.key"
    path.write_text(base64.b64encode(KEY).decode() + "\n")
    assert load_master_key({"B2SYNC_MASTER_KEY_FILE": str(path)}) == KEY


def test_missing_key_says_how_to_set_it() -> None:
    """No variable: the error names both variables."""
    with pytest.raises(MasterKeyError, match="B2SYNC_MASTER_KEY_FILE"):
        load_master_key({})


def test_short_key_is_refused() -> None:
    """A key that is not 32 bytes is refused."""
    with pytest.raises(MasterKeyError, match="not 32"):
        load_master_key({"B2SYNC_MASTER_KEY": base64.b64encode(b"short").decode()})


def test_subject_hash_is_keyed_and_normalised() -> None:
    """Same email in other case/space hashes the same; another master key differs."""
    ring = KeyRing(KEY)
    assert ring.subject_hash(" Ada@Example.COM") == ring.subject_hash("ada@example.com")
    assert KeyRing(bytes(32)).subject_hash("ada@example.com") != ring.subject_hash(
        "ada@example.com"
    )
