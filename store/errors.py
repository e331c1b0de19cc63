"""Errors raised by the state store.

::

    StoreError                  base class; never raised bare
    ├── StoreConfigError        the URL names a database we do not support (also a ValueError)
    │   └── StoreTenantError    the store belongs to another tenant, or its PostgreSQL role
    │                           ignores row-level security (superuser, BYPASSRLS); also a
    │                           StoreUnavailable (this tenant cannot use the store)
    └── StoreUnavailable        the database cannot be reached or opened; one-line message
                                naming the host (or file) and the cause, never the password

``sync/`` decides what these mean for a pipeline run (an unavailable store is fatal for the
run; the daemon retries on its next tick).
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class for state-store errors."""


class StoreConfigError(StoreError, ValueError):
    """The state-store URL is malformed or names an unsupported database."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or opened.

    The message is one line, e.g. ``cannot reach PostgreSQL at db.example:5432: connection
    refused``; it never holds a traceback or a password.
    """


class StoreTenantError(StoreConfigError, StoreUnavailable):
    """The store belongs to another tenant, or its role would ignore the tenant policies.

    A configuration error (exit 2 where the CLI tells them apart) that also makes the store
    unavailable to this tenant: code handling :class:`StoreUnavailable` stops cleanly.
    """
