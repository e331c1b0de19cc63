"""What an emulator's route modules may use of the emulator that serves them.

Route modules are handed the emulator typed as one of these Protocols, so they never import
the emulator class that imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from starlette.responses import Response

from emulators._base import EmuRequest, FaultPlan

__all__ = ["EmulatorHost"]


class EmulatorHost(Protocol):
    """The part of :class:`emulators._base.BaseEmulator` every route module uses."""

    @property
    def clock(self) -> Callable[[], float]:
        """Seconds since the epoch (injected in tests)."""
        ...

    @property
    def faults(self) -> FaultPlan:
        """The faults planned through the admin API."""
        ...

    def route(
        self,
        method: str,
        path: str,
        handler: Callable[[EmuRequest], Response],
        *,
        counted: bool = True,
        faults: bool = True,
        name: str | None = None,
    ) -> None:
        """Register ``handler`` for ``METHOD path``."""
        ...
