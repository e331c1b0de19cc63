"""Sync commands: ``sync``, ``deadletters list|retry``, ``mapping preview``.

They load the config with :func:`b2sync.cli.common.load_or_exit` (config errors → exit 2)
and print with rich (:mod:`b2sync.cli.output`).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from b2sync.cli.common import (
    EXIT_BAD_CONFIG,
    EXIT_BUSY,
    EXIT_FAILED,
    ConfigOption,
    fail,
    load_or_exit,
    open_runner,
    pipeline_or_exit,
    refuse_missing_fields,
    refuse_unresolved,
)
from b2sync.cli.output import Bars, make_console, print_summaries, summary_json
from b2sync.insights_passes import InsightsPass, InsightsPasses
from mapping.compiler import compile_fields
from mapping.config import Direction, Pipeline
from store.models import DeadLetterStatus, RunStatus, metadata
from sync.logs import configure_logging
from sync.replay import pending_dead_letters
from sync.run import LOCK_HELD, RunSummary, prefixed_progress, running_elsewhere
from sync.runner import Runner, side_by_side

__all__ = ["commands", "deadletters_app", "mapping_app"]

#: top-level commands of this module (``sync``)
commands = typer.Typer()
deadletters_app = typer.Typer(
    help="Inspect and replay records the CRM rejected.", no_args_is_help=True
)
mapping_app = typer.Typer(help="Try field mappings without writing anything.", no_args_is_help=True)

_dead = metadata.tables["dead_letters"]


@commands.command()
def sync(
    pipelines: Annotated[
        list[str] | None, typer.Argument(help="Pipelines to run (default: all).")
    ] = None,
    config: ConfigOption = None,
    full: Annotated[
        bool, typer.Option("--full", help="Ignore cursors: re-read everything.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show creates/updates and field diffs; write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0,
            help="While the daemon runs a pipeline, wait up to this long for its run to finish, "
            "then give up on that pipeline (exit code 3).",
        ),
    ] = 600.0,
) -> None:
    """Run pipelines once: backfill on the first run, incremental afterwards. Next to a
    running daemon, each pipeline waits for the daemon's run of it to finish (--wait)."""
    configure_logging(level="warning")
    path, cfg = load_or_exit(config)
    refuse_unresolved(path, cfg)
    console = make_console(stderr=as_json)
    summaries: list[RunSummary] = []
    with open_runner(cfg) as runner:
        try:
            selected = runner.select(pipelines)
        except KeyError as exc:
            fail(str(exc.args[0]), EXIT_BAD_CONFIG)
        refuse_missing_fields(path, runner, selected)
        bars = Bars(console, dry_run=dry_run)
        busy: list[str] = []
        with bars.progress:
            # pipelines that do not depend on each other run at the same time (different
            # CRMs, and companies beside customers on one CRM); a dependent one after what it
            # needs; the insights pass beside the orders pipelines
            insights = InsightsPasses(runner, selected, dry_run=dry_run)
            summaries = _run_groups(
                runner, selected, bars, console, busy, insights, full=full, dry_run=dry_run,
                wait=wait,
            )  # fmt: skip
        _report_insights(runner, console, insights.finish(), summaries)
        overdue = 0 if dry_run else _count_dead_letters(runner, summaries)
    if as_json:
        sys.stdout.write(
            json.dumps([summary_json(s) for s in summaries], indent=2, default=str) + "\n"
        )
    else:
        print_summaries(console, summaries, dry_run)
    if overdue:
        age = cfg.dead_letters.max_pending_age
        console.print(
            f"[yellow]{overdue} dead letters pending for longer than {age} "
            "(dead_letters.max_pending_age): see `b2sync deadletters list`"
        )
    if busy:
        fail(
            f"gave up after --wait {wait:g}s: the daemon is still running {', '.join(busy)}; "
            "those pipelines were not run (try again later, or raise --wait)",
            EXIT_BUSY,
        )
    if overdue or any(s.status is RunStatus.FAILED for s in summaries):
        raise typer.Exit(EXIT_FAILED)


def _run_when_free(
    runner: Runner,
    console: Console,
    name: str,
    wait: float,
    dry_run: bool,
    run: Callable[[], RunSummary],
) -> RunSummary | None:
    """``run()`` once no other process (the daemon) runs pipeline ``name``: wait for its run to
    finish, saying so once, for up to ``wait`` seconds; None if it is still running then. A
    dry run takes no lease, so it never waits."""
    deadline = time.monotonic() + wait
    pause = threading.Event()
    said = False
    while True:
        holder = None if dry_run else running_elsewhere(runner.db, name, runner.clock())
        if holder is None:
            summary = run()
            if summary.error != LOCK_HELD:
                return summary
            if time.monotonic() >= deadline:  # the daemon started a run between our look and
                return None  # our start, and keeps starting them
            continue
        if not said:
            who = "the daemon's" if holder.by_daemon else "another `b2sync sync`'s"
            console.print(
                f"waiting for {who} run of {name} to finish… (run {holder.run_id}, "
                f"up to --wait {wait:g}s)",
                markup=False,
            )
            said = True
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        pause.wait(min(0.5, left))


def _run_groups(
    runner: Runner,
    selected: list[Pipeline],
    bars: Bars,
    console: Console,
    busy: list[str],
    insights: InsightsPasses,
    *,
    full: bool,
    dry_run: bool,
    wait: float,
) -> list[RunSummary]:
    """Run ``selected`` group by group at once (:func:`sync.runner.parallel_groups`), the
    insights pass beside the pipelines once the customers pipelines are done; the summaries
    in ``selected``'s order. A pipeline the daemon keeps running past ``wait`` is added to
    ``busy`` and has no summary."""

    def run_one(pipe: Pipeline) -> RunSummary | None:
        summary = _run_one(runner, pipe, bars, console, full=full, dry_run=dry_run, wait=wait)
        if summary is None:
            busy.append(pipe.name)
        return summary

    done = side_by_side(
        selected,
        run_one,
        start=None if dry_run else runner.warm_up,
        beside=insights.beside(),
        early=not dry_run,
    )
    order = {pipe.name: index for index, pipe in enumerate(selected)}
    busy.sort(key=order.__getitem__)
    return done


def _run_one(
    runner: Runner,
    pipe: Pipeline,
    bars: Bars,
    console: Console,
    *,
    full: bool,
    dry_run: bool,
    wait: float,
) -> RunSummary | None:
    progress = bars.start(pipe.name)
    job = partial(runner.run_pipeline, pipe, full=full, dry_run=dry_run, progress=progress)
    summary = _run_when_free(runner, console, pipe.name, wait, dry_run, job)
    if summary is None or dry_run or summary.status is not RunStatus.SUCCEEDED:
        return summary
    replayed = runner.replay(pipe, progress=prefixed_progress(progress, "replay_"))
    if replayed is not None:  # its writes and calls are this sync's too
        summary.counts.update({f"replay_{k}": v for k, v in replayed.counts.items()})
        summary.api_calls.update(replayed.api_calls)
        if replayed.status is RunStatus.FAILED:  # the dead letters stay parked
            summary.status = RunStatus.FAILED
            summary.error = f"dead-letter replay: {replayed.error}"
    return summary


def _count_dead_letters(runner: Runner, summaries: list[RunSummary]) -> int:
    """Put each pipeline's pending dead letters (work left) in its summary's counts; return
    how many are pending for longer than ``dead_letters.max_pending_age``."""
    before = runner.clock() - runner.config.dead_letters.max_age
    with runner.db.connect() as conn:
        pending = pending_dead_letters(conn, [s.pipeline for s in summaries], before)
    for summary in summaries:
        total, late = pending.get(summary.pipeline, (0, 0))
        summary.counts["dead_letters_pending"] = total
        summary.counts["dead_letters_overdue"] = late
    return sum(late for _total, late in pending.values())


def _report_insights(
    runner: Runner, console: Console, passes: list[InsightsPass], summaries: list[RunSummary]
) -> None:
    """What the insights passes did: printed (a pass that found nobody only when none found
    anyone), and counted in the summary of the pipeline that carries it (``insights_<count>``
    and its CRM calls), so the summary names every write call."""
    by_name = {s.pipeline: s for s in summaries}
    connections = {s.pipeline: runner.config.pipeline(s.pipeline).crm.connection
                   for s in summaries}  # fmt: skip
    said = False
    for one in passes:
        for done in one.done:
            said = _report_pass(console, done, by_name, quiet=True) or said
        for connection, grown in one.calls.items():
            owners = [n for n, c in connections.items() if c == connection]
            pushers = [n for n in owners if by_name[n].counts["insights_written"]] or owners
            if pushers and grown:
                by_name[pushers[0]].api_calls.update(grown)
    if passes and not said:  # no pass found anyone to recompute: the first one says so
        for done in passes[0].done:
            _report_pass(console, done, by_name, quiet=False)


def _report_pass(
    console: Console, done: Any, by_name: dict[str, RunSummary], *, quiet: bool
) -> bool:
    """Print what a pass did for a tenant (``quiet``: unless it found nobody)."""
    pushed = sum(sum(c.values()) for c in done.pushed.values())
    if quiet and not (done.recomputed or done.errors or pushed):
        return False
    console.print(
        f"insights {done.tenant_id}: {done.recomputed} customers recomputed, "
        f"{pushed} CRM updates, {sum(done.fired.values())} rules fired"
        + (f", {len(done.errors)} errors" if done.errors else "")
    )
    for name, counts in done.pushed.items():
        if name in by_name:
            by_name[name].counts.update({f"insights_{k}": v for k, v in counts.items() if v})
    return True


@deadletters_app.command("list")
def deadletters_list(
    config: ConfigOption = None,
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Include resolved and abandoned ones.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show dead letters: pipeline, record key, error code, field and message (no personal data)."""
    _, cfg = load_or_exit(config)
    with open_runner(cfg) as runner, runner.db.connect() as conn:
        query = sa.select(
            _dead.c.id, _dead.c.pipeline, _dead.c.record_key, _dead.c.error_code, _dead.c.error_field,
            _dead.c.error_message, _dead.c.attempts, _dead.c.next_attempt_at, _dead.c.status,
        ).order_by(_dead.c.id)  # fmt: skip
        if pipeline:
            query = query.where(_dead.c.pipeline == pipeline)
        if not show_all:
            query = query.where(_dead.c.status == DeadLetterStatus.PENDING)
        rows = [dict(r._mapping) for r in conn.execute(query)]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    table = Table(title=f"dead letters ({len(rows)})")
    for column in (
        "id",
        "pipeline",
        "record",
        "code",
        "field",
        "message",
        "attempts",
        "next retry",
        "status",
    ):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"]), r["pipeline"], r["record_key"], r["error_code"], r["error_field"] or "",
            r["error_message"][:80], str(r["attempts"]), str(r["next_attempt_at"] or "-"), str(r["status"]),
        )  # fmt: skip
    make_console(markup=False).print(table)


@deadletters_app.command("retry")
def deadletters_retry(
    config: ConfigOption = None,
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
) -> None:
    """Replay every pending dead letter now (after fixing the mapping or the CRM)."""
    configure_logging(level="warning")
    _, cfg = load_or_exit(config)
    totals: Counter[str] = Counter()
    unfinished = False
    with open_runner(cfg) as runner:
        for pipe in runner.select([pipeline] if pipeline else None):
            summary = runner.replay(pipe, everything=True)
            if summary is not None:
                totals.update(summary.counts)
                unfinished = unfinished or summary.status is not RunStatus.SUCCEEDED
                c = summary.counts
                typer.echo(
                    f"{pipe.name}: replayed {c['read'] + c['lines_replayed']}, written "
                    f"{c['written'] + c['lines_written']}, still failing {c['dead_lettered']} "
                    f"({summary.status.value})"
                )
    if not totals:
        typer.echo("no pending dead letters")
    if totals["dead_lettered"] or unfinished:
        raise typer.Exit(EXIT_FAILED)


@mapping_app.command("preview")
def mapping_preview(
    pipeline: Annotated[
        str, typer.Option("--pipeline", "-p", help="Pipeline whose mapping to apply.")
    ],
    record: Annotated[
        Path, typer.Option("--record", "-r", help="JSON file: one B2Connect record.")
    ],
    config: ConfigOption = None,
) -> None:
    """Print the CRM payload a B2Connect record maps to (errors per field); writes nothing."""
    _, cfg = load_or_exit(config)
    pipe = pipeline_or_exit(cfg, pipeline)
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"{record}: cannot read a JSON record: {exc}", EXIT_BAD_CONFIG)
    if not isinstance(data, dict):
        fail(f"{record}: expected a JSON object", EXIT_BAD_CONFIG)
    mapped = compile_fields(pipe.fields).apply(
        data, direction=Direction.push, link=lambda _p, k: f"<id of {k}>"
    )
    out: dict[str, Any] = {"object": pipe.crm.object, "payload": mapped.payload}
    if mapped.errors:
        out["errors"] = {e.field: e.message for e in mapped.errors}
    if pipe.lines is not None:
        lines_mapping = compile_fields(pipe.lines.fields)
        out["lines"] = [
            lines_mapping.apply(line, direction=Direction.push).payload
            for line in data.get(pipe.lines.source) or []
            if isinstance(line, dict)
        ]
    sys.stdout.write(json.dumps(out, indent=2, default=str, ensure_ascii=False) + "\n")
    if mapped.errors:
        raise typer.Exit(EXIT_FAILED)
