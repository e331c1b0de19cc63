"""HubSpot emulator: a local portal for hubspot-api-client 12 over plain http on loopback."""

from __future__ import annotations

from ._app import HubSpotEmulator
from ._webhooks import Delivery, sign_v3

__all__ = ["Delivery", "HubSpotEmulator", "sign_v3"]
