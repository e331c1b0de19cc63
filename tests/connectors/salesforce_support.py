"""Helpers shared by the Salesforce connector tests (not a test module)."""

from __future__ import annotations

from typing import Any

import requests

from connectors.records import WriteItem
from connectors.salesforce import SalesforceConnector
from emulators import FaultPlan, FaultRule
from emulators.salesforce import SalesforceEmulator

UPSERT = "PATCH /services/data/{version}/composite/sobjects/{sobject}/{field}"


def connect(emu: SalesforceEmulator, **kwargs: Any) -> SalesforceConnector:
    """A connector in session mode against ``emu`` with fast Bulk polling."""
    options: dict[str, Any] = {
        "instance_url": emu.url,
        "session_id": emu.session_id,
        "ca_file": emu.ca_file,
        "bulk_wait_s": 0.01,
    }
    options.update(kwargs)
    return SalesforceConnector(**options)


class Connectors:
    """Makes connectors for one emulator and closes them all at the end of a test."""

    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu
        self.made: list[SalesforceConnector] = []

    def __call__(self, **kwargs: Any) -> SalesforceConnector:
        conn = connect(self.emu, **kwargs)
        self.made.append(conn)
        return conn

    def close(self) -> None:
        for conn in self.made:
            conn.close()


def contacts(n: int, prefix: str = "c", **extra: Any) -> list[WriteItem]:
    """``n`` valid Contact upserts keyed ``{prefix}{i}``."""
    return [
        WriteItem(
            key=f"{prefix}{i}",
            payload={"LastName": f"Person {i}", "Email": f"{prefix}{i}@example.com", **extra},
        )
        for i in range(n)
    ]


def emulator_calls(emu: SalesforceEmulator) -> dict[str, int]:
    """The emulator's call counts, read through its admin API."""
    response = requests.get(f"{emu.url}/_emulator/calls", verify=emu.ca_file, timeout=10)
    response.raise_for_status()
    counts: dict[str, int] = response.json()
    return counts


def inject(emu: SalesforceEmulator, **rule: Any) -> None:
    """Install one fault rule on the emulator."""
    emu.faults = FaultPlan([FaultRule(**rule)])
