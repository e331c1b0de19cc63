"""B2Connect emulator: the b2sync integration contract plus the real ``/api/v1/orders``."""

from __future__ import annotations

from emulators.b2connect._common import DEFAULT_TENANT, ORDER_FLOW, iso, money, parse_iso, plain
from emulators.b2connect._emulator import (
    DEFAULT_JWT_SECRET,
    DEFAULT_WEBHOOK_SECRET,
    B2ConnectEmulator,
)
from emulators.b2connect._orders import totals
from emulators.b2connect._webhooks import sign

__all__ = [
    "DEFAULT_JWT_SECRET",
    "DEFAULT_TENANT",
    "DEFAULT_WEBHOOK_SECRET",
    "ORDER_FLOW",
    "B2ConnectEmulator",
    "iso",
    "money",
    "parse_iso",
    "plain",
    "sign",
    "totals",
]
