"""``emulators up``: run the three seeded emulators until SIGTERM/SIGINT (or ``--duration``).

The lead CLI mounts :data:`app` as ``b2sync emulators``; ``python -m b2sync.demo.emulators up`` works
on its own too. Connection details go to ``--state-file`` (JSON) and ``--env-file``
(``KEY=value``), both mode 0600; the terminal shows URLs only, never tokens.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from emulators.stack import EmulatorStack

__all__ = ["app"]

#: seconds between two bursts of simulated shopper events
SHOPPER_INTERVAL_S = 3.0

app = typer.Typer(
    name="emulators",
    help="Local B2Connect, HubSpot and Salesforce emulators for tests and demos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    """Local B2Connect, HubSpot and Salesforce emulators for tests and demos."""


PortOption = Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0 = free).")]


@app.command()
def up(
    state_file: Annotated[
        Path | None, typer.Option("--state-file", help="Write URLs and credentials as JSON.")
    ] = None,
    env_file: Annotated[
        Path | None, typer.Option("--env-file", help="Write B2SYNC_* KEY=value lines.")
    ] = None,
    customers: Annotated[int, typer.Option(min=0, help="Seeded shop customers.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 42,
    hubspot_port: PortOption = 0,
    salesforce_port: PortOption = 0,
    b2connect_port: PortOption = 0,
    simulate_shoppers: Annotated[
        bool,
        typer.Option(
            "--simulate-shoppers/--no-simulate-shoppers",
            help="Every few seconds, make a few shopper changes in B2Connect.",
        ),
    ] = False,
    duration: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds.")
    ] = None,
    latency: Annotated[
        list[str] | None,
        typer.Option(
            "--latency",
            metavar="SYSTEM=MS|PLAN",
            help="Vendor latency per system, repeatable: hubspot=250, or a JSON plan such as "
            'salesforce=\'{"default": 500, "/services/data/*/composite/*": '
            '{"dist": "lognormal", "median_ms": 500, "p95_ms": 1200}}\'. '
            "Default: the B2SYNC_EMULATOR_LATENCY variable (JSON {system: plan}), else none.",
        ),
    ] = None,
) -> None:
    """Start the seeded emulators and serve until SIGTERM/SIGINT or --duration."""
    from emulators import HttpError
    from emulators.stack import EmulatorStack  # deferred: keeps `b2sync --help` fast

    try:
        plans = _latency_plans(latency) if latency else None
        stack = EmulatorStack(
            customers,
            seed,
            b2connect_port=b2connect_port,
            hubspot_port=hubspot_port,
            salesforce_port=salesforce_port,
            latency=plans,
        )
    except HttpError as err:
        raise typer.BadParameter(err.message, param_hint="--latency") from err

    console = Console()
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        stack.start()
        if state_file is not None:
            stack.write_state(state_file)
        if env_file is not None:
            stack.write_env(env_file)
        _print_summary(console, stack, state_file, env_file)
        _serve(stack, stop, seed, duration, simulate_shoppers)
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("Emulators stopped.")


def _latency_plans(options: list[str]) -> dict[str, Any]:
    """``{system: plan}`` from ``SYSTEM=MS|PLAN`` options (later ones win)."""
    from emulators import HttpError, LatencyError, parse_latency

    plans: dict[str, Any] = {}
    for option in options:
        system, sep, spec = option.partition("=")
        if not sep or not spec.strip():
            raise HttpError(400, "INVALID_LATENCY", f"{option!r}: expected SYSTEM=MS|PLAN")
        try:
            plans[system.strip()] = parse_latency(spec)
        except LatencyError as exc:
            raise HttpError(400, "INVALID_LATENCY", str(exc)) from exc
    return plans


def _serve(
    stack: EmulatorStack, stop: threading.Event, seed: int, duration: float | None, shoppers: bool
) -> None:
    """Wait for the stop event; between waits, simulate shoppers when asked to."""
    deadline = None if duration is None else time.monotonic() + duration
    rng = random.Random(seed)  # noqa: S311 - seeded shopper simulation, not crypto
    while not stop.is_set():
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return
        wait = SHOPPER_INTERVAL_S if shoppers else remaining
        if remaining is not None and wait is not None:
            wait = min(wait, remaining)
        if stop.wait(wait):
            return
        if shoppers:
            stack.b2connect.simulate_shoppers(rng, rng.randint(1, 4))


def _print_summary(
    console: Console, stack: EmulatorStack, state_file: Path | None, env_file: Path | None
) -> None:
    table = Table(title="b2sync emulators")
    table.add_column("System")
    table.add_column("URL")
    table.add_row("B2Connect", stack.b2connect.url)
    table.add_row("HubSpot", stack.hubspot.url)
    table.add_row("Salesforce", stack.salesforce.url)
    console.print(table)
    data = stack.seed_data
    if data is not None:
        console.print(
            f"Seeded {len(data.customers)} customers, {len(data.companies)} companies, "
            f"{len(data.orders)} orders; tenant {stack.b2connect.tenant_id}."
        )
    for label, path in (("State", state_file), ("Env", env_file)):
        if path is not None:
            console.print(f"{label} file: {path}")
    if stack.seed_rejects:
        console.print(f"[yellow]{len(stack.seed_rejects)} seed records were refused.[/yellow]")
    console.print("Press Ctrl+C (or send SIGTERM) to stop.")


if __name__ == "__main__":
    app()
