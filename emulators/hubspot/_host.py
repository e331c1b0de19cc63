"""What the HubSpot route modules may use of :class:`HubSpotEmulator` (which imports them)."""

from __future__ import annotations

from typing import Any, Protocol

from emulators._host import EmulatorHost

from ._store import CrmStore

__all__ = ["ForgetsEmails", "HubSpotHost"]


class ForgetsEmails(Protocol):
    """The communication preferences, as the object routes see them."""

    def forget(self, email: str | None) -> None:
        """Drop every preference of ``email``."""
        ...


class HubSpotHost(EmulatorHost, Protocol):
    """The HubSpot emulator as its route modules see it."""

    @property
    def store(self) -> CrmStore:
        """The portal's records."""
        ...

    @property
    def commprefs(self) -> ForgetsEmails:
        """The communication preferences."""
        ...

    def record(self, obj: str, rid: str) -> dict[str, Any] | None:
        """The admin view of one record, or None."""
        ...
