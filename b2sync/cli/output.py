"""How the commands print: rich progress bars, run summaries, dry-run plans."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sync.run import RunSummary

__all__ = ["Bars", "make_console", "print_plan", "print_summaries", "summary_json", "writes_of"]


class Bars:
    """Rich progress bars for one pipeline: records read/written, API calls, errors."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=None),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None
        self.counts: Counter[str] = Counter()
        self._last: Callable[[Mapping[str, int]], None] | None = None

    def start(self, name: str) -> Callable[[Mapping[str, int]], None]:
        """A bar for pipeline ``name``; returns its updater (pipelines may run at once)."""
        counts: Counter[str] = Counter()
        task = self.progress.add_task(name, total=None, detail="")

        def update(more: Mapping[str, int]) -> None:
            counts.update(more)
            c = counts
            detail = (
                f"read {c['read']}  written {c['written']}  unchanged {c['unchanged']}  "
                f"dead-lettered {c['dead_lettered']}  conflicts {c['conflicts']}"
            )
            self.progress.update(task, completed=c["read"], detail=detail)

        self.task, self.counts, self._last = task, counts, update
        return update

    def update(self, counts: Mapping[str, int]) -> None:
        """Update the bar started last."""
        if self._last is not None:
            self._last(counts)


def make_console(*, stderr: bool = False) -> Console:
    """A console 140 columns wide when output is not a terminal (logs, CI, pipes)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 140)


def writes_of(counts: Counter[str]) -> dict[str, int]:
    """Every record update of a run, whichever half made it: CRM creates, CRM updates (push
    and the pull's merge) and B2Connect updates (the pull's write-backs; a ``both`` run
    carries its pull half's counts as ``pull_*``)."""
    return {
        "crm_created": counts["created"],
        "crm_updated": counts["updated"] + counts["to_crm"] + counts["pull_to_crm"],
        "b2connect_updated": counts["to_b2connect"] + counts["pull_to_b2connect"],
    }


def summary_json(summary: RunSummary) -> dict[str, Any]:
    return {
        "pipeline": summary.pipeline,
        "run_id": summary.run_id,
        "status": summary.status.value,
        "writes": writes_of(summary.counts),
        "counts": dict(summary.counts),
        "api_calls": dict(summary.api_calls),
        "error": summary.error,
        "plan": summary.dry_run_plan,
        "notes": summary.notes,
    }


def print_summaries(console: Console, summaries: list[RunSummary], dry_run: bool) -> None:
    table = Table(title="dry run: nothing was written" if dry_run else "sync summary")
    for column in ("pipeline", "status", "read", "created", "updated", "b2connect updated",
                   "unchanged", "dead", "conflicts", "deferred", "calls"):  # fmt: skip
        left = column in ("pipeline", "status")
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    for s in summaries:
        c = s.counts
        created = c["would_write"] if dry_run else c["created"]
        writes = writes_of(c)
        table.add_row(
            s.pipeline,
            s.status.value,
            str(c["read"]),
            str(created),
            "-" if dry_run else str(writes["crm_updated"]),
            "-" if dry_run else str(writes["b2connect_updated"]),
            str(c["unchanged"]),
            str(c["would_dead_letter"] if dry_run else c["dead_lettered"]),
            str(c["conflicts"]),
            str(c["deferred"]),
            str(sum(s.api_calls.values())),
        )
    console.print(table)
    for s in summaries:
        if s.error:
            console.print(f"[yellow]{s.pipeline}: {s.error}")
        for note in s.notes:
            console.print(f"{s.pipeline}: {note}")
        if dry_run and s.dry_run_plan:
            print_plan(console, s)


def print_plan(console: Console, summary: RunSummary, limit: int = 50) -> None:
    table = Table(title=f"{summary.pipeline}: planned writes (first {limit})")
    for column in ("action", "object", "key", "fields"):
        table.add_column(column)
    for row in summary.dry_run_plan[:limit]:
        fields = row.get("fields") or {}
        shown = (
            ", ".join(f"{k}={v!s}" for k, v in fields.items()) if fields else row.get("error", "")
        )
        table.add_row(row["action"], row["object"], row["key"], shown)
    console.print(table)
