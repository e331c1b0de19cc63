"""Helpers shared by the HubSpot connector tests: a fake clock and the emulator admin API."""

from __future__ import annotations

from typing import Any

import requests

from connectors.hubspot import HubSpotConnector
from emulators.hubspot import HubSpotEmulator

#: a fixed moment (2030-01-15 12:00:00 UTC) the fake clock starts at
START = 1_894_708_800.0


class FakeClock:
    """A clock that moves only when waited on (the connector's ``waiter``) or advanced."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False

    def advance(self, seconds: float) -> None:
        self.now += seconds


def connector(emu: HubSpotEmulator, **options: Any) -> HubSpotConnector:
    """A connector pointed at ``emu`` (options go to the constructor)."""
    return HubSpotConnector(url=emu.url, token=emu.token, **options)


def calls(emu: HubSpotEmulator) -> dict[str, int]:
    """The emulator's call counts, through its admin API."""
    resp = requests.get(f"{emu.url}/_emulator/calls", timeout=5)
    resp.raise_for_status()
    counts: dict[str, int] = resp.json()
    return counts


def faults(emu: HubSpotEmulator, *rules: dict[str, Any]) -> None:
    """Install fault rules through the admin API."""
    resp = requests.post(f"{emu.url}/_emulator/faults", json={"rules": list(rules)}, timeout=5)
    resp.raise_for_status()


def admin_records(emu: HubSpotEmulator, obj: str) -> list[dict[str, Any]]:
    """Records of ``obj`` (or association rows) through the admin API."""
    resp = requests.get(f"{emu.url}/_emulator/records/{obj}", timeout=5)
    resp.raise_for_status()
    rows: list[dict[str, Any]] = resp.json()
    return rows


def admin_patch(emu: HubSpotEmulator, obj: str, rid: str, data: dict[str, Any]) -> dict[str, Any]:
    """Edit a record as a person in the HubSpot UI would."""
    resp = requests.patch(f"{emu.url}/_emulator/records/{obj}/{rid}", json=data, timeout=5)
    resp.raise_for_status()
    row: dict[str, Any] = resp.json()
    return row


def admin_create(emu: HubSpotEmulator, obj: str, properties: dict[str, Any]) -> dict[str, Any]:
    """Create a record as a person in the HubSpot UI would."""
    resp = requests.post(
        f"{emu.url}/_emulator/records/{obj}", json={"properties": properties}, timeout=5
    )
    resp.raise_for_status()
    row: dict[str, Any] = resp.json()
    return row
