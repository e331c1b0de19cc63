"""B2Connect emulator: the b2sync integration contract plus the real ``/api/v1/orders``."""

from __future__ import annotations

from emulators.b2connect._common import DEFAULT_TENANT
from emulators.b2connect._emulator import (
    DEFAULT_JWT_SECRET,
    DEFAULT_WEBHOOK_SECRET,
    B2ConnectEmulator,
)
from emulators.b2connect._webhooks import sign

__all__ = [
    "DEFAULT_JWT_SECRET",
    "DEFAULT_TENANT",
    "DEFAULT_WEBHOOK_SECRET",
    "B2ConnectEmulator",
    "sign",
]
