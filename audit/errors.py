"""Errors of the audit trail.

::

    AuditError
    ├── MasterKeyError      no usable master key in the environment
    ├── KeyChangedError     a key differs from the one the state store was written with
    ├── LegalHoldError      a subject under legal hold cannot be shredded
    └── AuditConfigError    the config or state URL cannot be used
"""

from __future__ import annotations


class AuditError(Exception):
    """Base class of every audit error."""


class MasterKeyError(AuditError):
    """The master key is missing or malformed; the message says how to provide it."""


class KeyChangedError(AuditError):
    """A key (master key, hash key) is not the one the store was written with.

    The message names the key and says how to recover (restore it, or ``b2sync keys rotate``).
    """


class LegalHoldError(AuditError):
    """A subject under legal hold cannot be shredded or purged."""


class AuditConfigError(AuditError):
    """The config file or the state URL cannot be used."""
