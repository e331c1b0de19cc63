"""What the Salesforce route modules may use of :class:`SalesforceEmulator` (which imports them)."""

from __future__ import annotations

from typing import Any, Protocol

from emulators._host import EmulatorHost

from ._bulk2_jobs import Job
from ._limits import Limits
from ._store import Store

__all__ = ["SalesforceHost"]


class SalesforceHost(EmulatorHost, Protocol):
    """The Salesforce emulator as its route modules see it."""

    #: result sets behind ``nextRecordsUrl`` locators (the query routes install theirs)
    cursors: dict[str, Any]

    @property
    def store(self) -> Store:
        """The org's records."""
        ...

    @property
    def limits(self) -> Limits:
        """API and Bulk API limits."""
        ...

    @property
    def jobs(self) -> dict[str, Job]:
        """Bulk API 2.0 jobs by id."""
        ...

    @property
    def bulk_polls(self) -> int:
        """Polls a Bulk job stays in progress."""
        ...

    @property
    def integration_user_id(self) -> str:
        """The user API writes are made as."""
        ...

    @property
    def query_batch_size(self) -> int:
        """Default page size of query results."""
        ...

    @property
    def hard_delete_permission(self) -> bool:
        """Whether the integration user holds "Bulk API Hard Delete" (off in a new org)."""
        ...
