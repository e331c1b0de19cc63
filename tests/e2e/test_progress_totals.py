"""Issue 20 item 10: progress knows the size of a read where the API says it (B2Connect's
delta ``remainingCount``, Salesforce's ``totalSize``), so the bars show N/total and an ETA."""

from __future__ import annotations

import io
from collections.abc import Mapping

from rich.console import Console

from b2sync.cli.output import Bars
from tests.e2e.conftest import E2E


def _run(e2e: E2E, name: str, bars: Bars | None = None) -> list[dict[str, int]]:
    events: list[dict[str, int]] = []

    def progress(counts: Mapping[str, int]) -> None:
        events.append(dict(counts))
        if bars is not None:
            bars.update(counts)

    runner = e2e.runner()
    try:
        [pipe] = runner.select([name])
        if bars is not None:
            bars.start(name)
        runner.run_pipeline(pipe, progress=progress)
    finally:
        runner.close()
    return events


def _checked(events: list[dict[str, int]]) -> int:
    """Every ``remaining`` report agrees with the reads that followed it; the total read."""
    read = 0
    for n, event in enumerate(events):
        read += event.get("read", 0)
        if "remaining" in event:
            later = sum(e.get("read", 0) for e in events[n + 1 :])
            assert event["remaining"] == later, (n, event, later)
    return read


def test_push_from_the_delta_feed_knows_its_total(e2e: E2E) -> None:
    """customers-to-salesforce reads the B2Connect delta feed: its first report already says
    how many records the read will bring."""
    events = _run(e2e, "customers-to-salesforce")
    first = next(i for i, e in enumerate(events) if "remaining" in e)
    total = _checked(events)
    assert (
        total > 0
        and sum(e.get("read", 0) for e in events[: first + 1]) + events[first]["remaining"] == total
    )


def test_bars_show_read_of_total(e2e: E2E) -> None:
    """A two-way pipeline (its HubSpot pull half has no size, its push half has): the bars
    end on `read/total` instead of an open-ended spinner."""
    out = io.StringIO()
    bars = Bars(Console(file=out, width=200, force_terminal=False))
    with bars.progress:
        events = _run(e2e, "customers-to-hubspot", bars)
    total = _checked(events)
    assert any("remaining" in e for e in events)
    task = bars.progress.tasks[0]
    assert task.total == total == task.completed
    assert f"{total}/{total}" in out.getvalue()


def test_salesforce_change_reads_carry_total_size(e2e: E2E) -> None:
    """A SOQL change read gives every page the query's ``totalSize``."""
    e2e.sync("customers-to-salesforce")
    runner = e2e.runner()
    try:
        pages = list(runner.connector("salesforce").read_changes("Contact", None))
    finally:
        runner.close()
    read = sum(len(p.records) for p in pages)
    assert read > 0 and {p.total for p in pages} == {read}
