"""``b2sync demo``: the main job end to end on the embedded default.

Starts the three emulators with seeded data, points the shipped ``config.yaml`` at them
(a fresh SQLite store under ``state/demo.db``), backfills both CRMs with progress bars,
then keeps syncing while the B2Connect emulator simulates shoppers, until Ctrl-C or
``--duration``. Everything it prints is what really happened (counts from the store and the
emulators' own call counters).
"""

from __future__ import annotations

import base64
import os
import random
import re
import secrets
import signal
import threading
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from b2sync.cli.common import EXIT_FAILED, ConfigOption, load_or_exit, open_runner
from b2sync.cli.output import Bars, make_console, print_summaries
from b2sync.demo.erasure import demo_erasure, demo_erasure_round
from mapping.config import Config
from store.models import RunStatus
from sync.logs import configure_logging
from sync.retry import RetryPolicy
from sync.run import RunSummary
from sync.runner import Runner

__all__ = ["commands", "demo"]

#: top-level commands of this module (``demo``)
commands = typer.Typer()


@commands.command()
def demo(
    config: ConfigOption = None,
    customers: Annotated[int, typer.Option(min=1, help="Seeded shop customers.")] = 200,
    duration: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Stop after this many seconds, start-up and backfill included "
            "(default: until Ctrl-C).",
        ),
    ] = None,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between sync rounds.")] = 5.0,
    state_dir: Annotated[Path, typer.Option(help="Where the demo store lives.")] = Path("state"),
) -> None:
    """Emulators + SQLite: backfill both CRMs, then sync shopper activity live."""
    from b2sync.demo.stack import EmulatorStack, print_calls

    configure_logging(level="error")
    console = make_console()
    path, cfg = load_or_exit(config)
    stop = threading.Event()
    _on_signals(stop)
    if duration is not None:  # the whole demo, from here: start-up, backfill, live rounds
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()
    state_dir.mkdir(parents=True, exist_ok=True)
    key_file = None
    if demo_cfg_needs_key(cfg):
        # a demo-only master key, kept beside the demo store so its audit trail stays readable
        key_file = state_dir / "demo.key"
        key_file.write_text(base64.b64encode(secrets.token_bytes(32)).decode(), encoding="utf-8")
        key_file.chmod(0o600)
        os.environ["B2SYNC_MASTER_KEY_FILE"] = str(key_file.resolve())
    with EmulatorStack(customers=customers) as stack:
        os.environ.update(stack.env())
        db_file = state_dir / "demo.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        demo_cfg = cfg.model_copy(update={"state_url": f"sqlite:///{db_file}"})
        console.print(
            f"[bold]emulators up[/]: B2Connect {stack.b2connect.url}, HubSpot {stack.hubspot.url}, "
            f"Salesforce {stack.salesforce.url}; {customers} seeded customers; store {db_file}"
        )
        reports = state_dir / "reports"
        failed = _backfill_and_follow(demo_cfg, stack, console, stop, interval, reports)
        print_calls(console, stack)
        if duration is not None and stop.is_set():
            console.print(f"--duration {duration:g}s reached", markup=False)
        print_next_steps(console, stack, demo_config(path, state_dir, db_file), key_file, reports)
    console.print("[bold]demo stopped cleanly[/]")
    if failed:
        raise typer.Exit(EXIT_FAILED)


def demo_cfg_needs_key(cfg: Config) -> bool:
    """Audit is on but no master key is configured in this environment."""
    return cfg.audit.enabled and not (
        os.environ.get("B2SYNC_MASTER_KEY") or os.environ.get("B2SYNC_MASTER_KEY_FILE")
    )


def _backfill_and_follow(
    cfg: Config,
    stack: object,
    console: Console,
    stop: threading.Event,
    interval: float,
    reports: Path,
) -> bool:
    from b2sync.demo.stack import EmulatorStack

    assert isinstance(stack, EmulatorStack)
    failed = False
    with open_runner(cfg) as runner:
        runner.stop = stop
        runner.retry = RetryPolicy(attempts=4, initial=0.2, maximum=5.0)
        pipelines = runner.select(None)
        console.print("[bold]backfill[/]")
        bars = Bars(console)
        summaries: list[RunSummary] = []
        with bars.progress:
            for pipe in pipelines:
                if stop.is_set():  # --duration or Ctrl-C: the pipelines left are not started
                    break
                bars.start(pipe.name)
                summaries.append(runner.run_pipeline(pipe, trigger="demo", progress=bars.update))
        print_summaries(console, summaries, dry_run=False)
        failed = any(s.status is RunStatus.FAILED for s in summaries)
        for show in (_consent, demo_erasure, _insights_step, _two_way):
            if stop.is_set():
                break
            show(runner, stack, console)
        rng = random.Random(7)  # noqa: S311 - reproducible shopper simulation, not crypto
        rounds = 0
        while not stop.wait(interval):
            events = stack.b2connect.simulate_shoppers(rng, 5)
            totals: Counter[str] = Counter()
            for pipe in pipelines:
                summary = runner.run_pipeline(pipe, trigger="demo")
                totals.update(summary.counts)
                totals.update({"api_calls": sum(summary.api_calls.values())})
                failed = failed or summary.status is RunStatus.FAILED
            rounds += 1
            kinds = Counter(str(e.get("event", "change")) for e in events)
            consent = _consent_round(runner)
            consent += demo_erasure_round(runner)
            console.print(
                f"round {rounds}: shoppers did {dict(kinds)} → read {totals['read']}, "
                f"written {totals['written']}, unchanged {totals['unchanged']}, "
                f"dead-lettered {totals['dead_lettered']}, API calls {totals['api_calls']}"
                f"{consent}"
            )
            _insights(runner, console)
        _monthly_report(runner, console, reports)
    return failed


def _insights_step(runner: Runner, _stack: object, console: Console) -> None:
    _insights(runner, console)


def demo_config(config: Path, state_dir: Path, db_file: Path) -> Path:
    """``state/demo.yaml``: the demo's config with its own store, for the commands that look
    at what the demo did after it stopped."""
    text = config.read_text(encoding="utf-8")
    line = f"state_url: sqlite:///{db_file.resolve()}"
    text, found = re.subn(r"(?m)^state_url:.*$", line, text, count=1)
    if not found:
        text += f"\n{line}\n"
    out = state_dir / "demo.yaml"
    out.write_text(text, encoding="utf-8")
    return out


def print_next_steps(
    console: Console, stack: object, config: Path, key_file: Path | None, reports: Path
) -> None:
    """How to look at what the demo did: store commands, the report, the CRMs' emulators."""
    from b2sync.demo.stack import EmulatorStack

    assert isinstance(stack, EmulatorStack)
    c = f"--config {config}"
    report = next(iter(sorted(reports.glob("*.html"))), reports)
    lines = ["look at what the demo did (its store stays in place):"]
    if key_file is not None:
        lines.append(f"  export B2SYNC_MASTER_KEY_FILE={key_file}   # the demo's own audit key")
    lines += [
        f"  b2sync status {c}                each pipeline's runs",
        f"  b2sync audit verify {c}          the audit trail's chain",
        f"  b2sync audit export {c} --format csv -o audit.csv",
        f"  B2SYNC_UI_TOKEN=<32+ characters> b2sync ui {c}   the compliance page",
        f"  b2sync report monthly {c} --format html   the insights report (now: {report})",
        "  the CRMs as the demo left them (the emulators stop with the demo; "
        "`b2sync emulators up` runs them on their own):",
        f"    HubSpot contacts     {stack.hubspot.url}/_emulator/records/contacts",
        f"    Salesforce contacts  {stack.salesforce.url}/_emulator/records/Contact",
        f"    B2Connect customers  {stack.b2connect.url}/_emulator/records/customers",
    ]
    console.print("\n".join(lines), markup=False, highlight=False)


def _insights(runner: Runner, console: Console) -> None:
    """Recompute changed customers' insights, push them, fire workflow rules; one line."""
    from insights.refresh import InsightsRefresh

    for s in InsightsRefresh.for_runner(runner).run():
        written = sum(c["written"] for c in s.pushed.values())
        fired = ", ".join(f"{rule} {n}" for rule, n in s.fired.items()) or "none"
        console.print(
            f"insights: {s.recomputed} customers recomputed ({'full' if s.full else 'incremental'}),"
            f" {written} CRM records updated, rules fired: {fired}"
        )


def _monthly_report(runner: Runner, console: Console, reports: Path) -> None:
    """Write this month's report (HTML and Markdown) and say where it is."""
    from datetime import UTC, datetime

    from b2sync.cli.insights import write_report

    month = datetime.now(UTC).strftime("%Y-%m")
    for fmt in ("md", "html"):
        path = write_report(runner, month, fmt, reports / f"b2sync-report-{month}.{fmt}")
        console.print(f"[bold]monthly report ({fmt})[/]: {path.resolve()}")


def _two_way(runner: Runner, stack: object, console: Console) -> None:
    """A HubSpot user's edit, pulled back into B2Connect (``direction: both``)."""
    from b2sync.demo.pull import show_crm_edit

    show_crm_edit(runner, stack, console)


def _consent(runner: Runner, stack: object, console: Console) -> None:
    """One unsubscribe made in HubSpot, followed to B2Connect and Salesforce."""
    from b2sync.demo.consent import show_unsubscribe

    show_unsubscribe(runner, stack, console)


def _consent_round(runner: Runner) -> str:
    from b2sync.demo.consent import consent_round

    return consent_round(runner)


def _on_signals(stop: threading.Event) -> None:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
