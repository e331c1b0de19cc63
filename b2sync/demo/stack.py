"""The emulator stack the demo runs against, and what it shows of it."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from emulators.stack import EmulatorStack

__all__ = ["EmulatorStack", "print_calls"]


def print_calls(console: Console, stack: EmulatorStack) -> None:
    """A table of every endpoint the emulators served, with its call count."""
    table = Table(title="API calls the emulators served")
    table.add_column("system")
    table.add_column("endpoint")
    table.add_column("calls", justify="right")
    for emu in (stack.hubspot, stack.salesforce, stack.b2connect):
        for endpoint, calls in sorted(emu.calls.items()):
            table.add_row(emu.name, endpoint, str(calls))
    console.print(table)
