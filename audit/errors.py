"""Errors of the audit trail.

::

    AuditError
    ├── MasterKeyError      no usable master key in the environment
    ├── LegalHoldError      a subject under legal hold cannot be shredded
    └── AuditConfigError    the config or state URL cannot be used
"""

from __future__ import annotations


class AuditError(Exception):
    """Base class of every audit error."""


class MasterKeyError(AuditError):
    """The master key is missing or malformed; the message says how to provide it."""


class LegalHoldError(AuditError):
    """A subject under legal hold cannot be shredded or purged."""


class AuditConfigError(AuditError):
    """The config file or the state URL cannot be used."""
