"""How the commands print: rich progress bars, run summaries, dry-run plans."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from sync.run import RunSummary

__all__ = [
    "Bars",
    "make_console",
    "print_plan",
    "print_summaries",
    "row_of",
    "summary_json",
    "writes_of",
]


class Bars:
    """Rich progress bars for one pipeline, counting what its summary row will say: records
    read/written, API calls, errors; records read of the total and the time left where the
    read's size is known (B2Connect's ``remainingCount``, Salesforce's ``totalSize``)."""

    def __init__(self, console: Console, *, dry_run: bool = False) -> None:
        self.narrow = console.width < _WIDE  # then no bar and the table's short names
        columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn("[bold]{task.description}")]
        if not self.narrow:
            columns.append(BarColumn(bar_width=None))
        columns += [MofNCompleteColumn(), TextColumn("{task.fields[detail]}")]
        if not self.narrow:
            columns += [TimeElapsedColumn(), TimeRemainingColumn()]
        self.progress = Progress(*columns, console=console, transient=False)
        self.dry_run = dry_run
        self.task: Any = None
        self.counts: Counter[str] = Counter()
        self._last: Callable[[Mapping[str, int]], None] | None = None

    def start(self, name: str) -> Callable[[Mapping[str, int]], None]:
        """A bar for pipeline ``name``; returns its updater (pipelines may run at once)."""
        counts: Counter[str] = Counter()
        task = self.progress.add_task(escape(name), total=None, detail="")
        names = _SHORT if self.narrow else {name: name for name in _BAR_COLUMNS}

        def update(more: Mapping[str, int]) -> None:
            if "remaining" in more:  # the read's size is known: a total, hence an ETA
                self.progress.update(task, total=counts["read"] + more["remaining"])
                return
            counts.update(more)
            row = row_of(counts, dry_run=self.dry_run)
            detail = "  ".join(f"{names[name]} {row[name]}" for name in _BAR_COLUMNS)
            self.progress.update(task, completed=row["read"], detail=detail)

        self.task, self.counts, self._last = task, counts, update
        return update

    def update(self, counts: Mapping[str, int]) -> None:
        """Update the bar started last."""
        if self._last is not None:
            self._last(counts)


def make_console(*, stderr: bool = False, markup: bool = True) -> Console:
    """A console 140 columns wide when output is not a terminal (logs, CI, pipes) unless
    ``COLUMNS`` says otherwise. ``markup=False`` for consoles that print data (record keys,
    messages, ``[erased]`` values): nothing in brackets is taken for Rich markup."""
    stream = sys.stderr if stderr else sys.stdout
    sized = stream.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(stderr=stderr, width=None if sized else 140, markup=markup)


def writes_of(counts: Counter[str], *, dry_run: bool = False) -> dict[str, int]:
    """Every record update of a run, whichever half made it: CRM creates, CRM updates (push,
    the pull's merge, dead-letter replays) and B2Connect updates (the pull's write-backs; a
    ``both`` run carries its pull half's counts as ``pull_*``, a ``sync``'s replay as
    ``replay_*``). A dry run's are what the same real run would count (``would_*``)."""
    if dry_run:
        return {
            "crm_created": counts["would_create"],
            "crm_updated": counts["would_update"] + counts["would_to_crm"]
            + counts["pull_would_to_crm"],
            "b2connect_updated": counts["would_to_b2connect"] + counts["pull_would_to_b2connect"],
        }  # fmt: skip
    return {
        "crm_created": counts["created"] + counts["replay_created"],
        "crm_updated": sum(
            counts[f"{prefix}{name}"]
            for prefix in ("", "pull_", "replay_")
            for name in ("updated", "to_crm")
        ),
        "b2connect_updated": sum(
            counts[f"{prefix}to_b2connect"] for prefix in ("", "pull_", "replay_")
        ),
    }


def row_of(counts: Counter[str], *, dry_run: bool = False) -> dict[str, int]:
    """The numbers of a pipeline's summary row (and of its progress line)."""
    writes = writes_of(counts, dry_run=dry_run)
    dead = counts["would_dead_letter"] if dry_run else counts["dead_lettered"]
    conflicts = counts["would_conflict"] if dry_run else counts["conflicts"]
    return {
        "read": counts["read"],
        "created": writes["crm_created"],
        "updated": writes["crm_updated"],
        "b2connect updated": writes["b2connect_updated"],
        "unchanged": counts["unchanged"],
        "dead": dead,
        "conflicts": conflicts,
        "deferred": counts["deferred"],
    }


#: the counts the progress line shows, named as in the summary table
_BAR_COLUMNS = ("read", "created", "updated", "unchanged", "dead", "conflicts")
#: summary table columns: (name in :func:`row_of` or "calls", header when wide, when narrow)
_COLUMNS = (
    ("read", "read", "read"),
    ("created", "created", "new"),
    ("updated", "updated", "upd"),
    ("b2connect updated", "b2connect updated", "b2c"),
    ("unchanged", "unchanged", "same"),
    ("dead", "dead", "dead"),
    ("conflicts", "conflicts", "confl"),
    ("deferred", "deferred", "defer"),
    ("calls", "calls", "calls"),
)
#: narrower than this, the table uses the short headers and explains them below
_WIDE = 120
#: short name of each summary column
_SHORT = {key: short for key, _wide, short in _COLUMNS}


def summary_json(summary: RunSummary) -> dict[str, Any]:
    return {
        "pipeline": summary.pipeline,
        "run_id": summary.run_id,
        "status": summary.status.value,
        "dry_run": summary.dry_run,
        "writes": writes_of(summary.counts, dry_run=summary.dry_run),
        "counts": dict(summary.counts),
        "api_calls": dict(summary.api_calls),
        "error": summary.error,
        "plan": summary.dry_run_plan,
        "notes": summary.notes,
    }


def print_summaries(console: Console, summaries: list[RunSummary], dry_run: bool) -> None:
    """One row per pipeline; at under 120 columns, short headers (explained below the table)
    and the status under the pipeline's name, so that 80 columns hold it without cutting a
    header or a number."""
    narrow = console.width < _WIDE
    title = "dry run: nothing was written, numbers are planned" if dry_run else "sync summary"
    table = Table(title=title, box=box.SIMPLE_HEAD, collapse_padding=narrow, pad_edge=not narrow)
    table.add_column("pipeline", overflow="fold")
    if not narrow:
        table.add_column("status", no_wrap=True)
    for _key, wide, short in _COLUMNS:
        header = short if narrow else wide
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    for s in summaries:
        row = row_of(s.counts, dry_run=dry_run)
        row["calls"] = sum(s.api_calls.values())
        name = escape(s.pipeline)
        cells = [f"{name}\n[dim]{s.status.value}[/]"] if narrow else [name, s.status.value]
        table.add_row(*cells, *(str(row[key]) for key, _w, _s in _COLUMNS))
    console.print(table)
    if narrow:
        legend = ", ".join(f"{short} = {wide}" for _k, wide, short in _COLUMNS if short != wide)
        console.print(f"[dim]{legend}[/]", overflow="fold")
    for s in summaries:
        if s.error:
            console.print(f"[yellow]{escape(s.pipeline)}: {escape(s.error)}[/]")
        for note in s.notes:
            console.print(f"{escape(s.pipeline)}: {escape(note)}")
        if dry_run and s.dry_run_plan:
            print_plan(console, s)


def print_plan(console: Console, summary: RunSummary, limit: int = 50) -> None:
    table = Table(title=f"{escape(summary.pipeline)}: planned writes (first {limit})")
    for column in ("action", "object", "key", "fields"):
        table.add_column(column)
    for row in summary.dry_run_plan[:limit]:
        fields = row.get("fields") or {}
        shown = (
            ", ".join(f"{k}={v!s}" for k, v in fields.items()) if fields else row.get("error", "")
        )
        table.add_row(
            escape(row["action"]), escape(row["object"]), escape(row["key"]), escape(str(shown))
        )
    console.print(table)
