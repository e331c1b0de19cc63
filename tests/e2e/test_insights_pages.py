"""End to end (issue 18): the insights pass walks the customers a page at a time, so its
memory follows the page, not the shop, and a crash between pages resumes where it stopped.
Counted (links looked up per statement, write calls at the emulators), never timed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from insights import refresh as refresh_module
from insights.ledger import dirty_count
from insights.refresh import InsightsRefresh, RefreshSummary
from tests.e2e.alive import Alive, counted_str
from tests.e2e.conftest import E2E
from tests.e2e.insights_support import backfill

BATCH_UPDATE = "POST /crm/v3/objects/{object_type}/batch/update"
PAGE = 20  # a multiple of the 10-record write pieces below
LATER = datetime.now(UTC) + timedelta(days=400)  # everyone's recency moved: all get written


@contextmanager
def _links_looked_up(db: sa.Engine) -> Iterator[list[int]]:
    """The number of customer keys each SELECT on ``links`` asks for (its IN list)."""
    seen: list[int] = []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        select = statement.lstrip().upper().startswith("SELECT")
        if select and "FROM links" in statement and " IN (" in statement:
            head, rest = statement.split(" IN (", 1)
            start, size = head.count("?"), rest.split(")", 1)[0].count("?")
            # distinct keys: SQLite's IN lists go out padded with their last key repeated
            seen.append(len(set(parameters[start : start + size])))

    sa.event.listen(db, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(db, "before_cursor_execute", count)


def _later_pass(
    e2e: E2E, *, full: bool = False, **changes: Any
) -> tuple[RefreshSummary, list[int]]:
    """A pass 400 days on (a full one: the day passed; no read-back due, the pushes are the
    only traffic) with 10-record HubSpot write pieces, and the keys each links query asked."""
    runner = e2e.runner()
    try:
        settings = runner.config.insights.model_copy(
            update={"engagement_every_minutes": 10**9, "support_every_minutes": 10**9}
        )
        config = runner.config.model_copy(update={"insights": settings})
        runner.connector("hubspot").write_chunk = 10  # type: ignore[attr-defined]
        refresh = dataclasses.replace(
            InsightsRefresh.for_runner(runner), config=config, clock=lambda: LATER, **changes
        )
        with _links_looked_up(runner.db) as seen:
            [summary] = refresh.run(full=full)
        return summary, seen
    finally:
        runner.close()


def test_the_pass_plans_a_page_at_a_time_with_the_same_write_calls(e2e: E2E) -> None:
    """40 customers in pages of 20: no links query asks for more than a page of customers
    (the pass planned everyone at once before), and HubSpot gets one full 10-record update
    per 10 written contacts, as one page would send."""
    backfill(e2e)
    before = e2e.calls("hubspot")

    summary, seen = _later_pass(e2e, page_size=PAGE)

    written = summary.pushed["customers-to-hubspot"]["written"]
    assert summary.full and not summary.errors
    assert summary.recomputed > PAGE  # more than one page
    assert written > PAGE and summary.pushed["customers-to-salesforce"]["written"] > PAGE
    assert seen and max(seen) <= PAGE
    grown = e2e.calls("hubspot").get(BATCH_UPDATE, 0) - before.get(BATCH_UPDATE, 0)
    assert grown == -(-written // 10)


def test_a_crash_between_pages_resumes_where_it_stopped(e2e: E2E) -> None:
    """HubSpot fails every update after the first page's batch: the pass stops, the first
    page stays committed (its contacts' links current); the next pass writes only what the
    crash left, and one more writes nothing: nothing lost, nothing written twice."""
    backfill(e2e)
    e2e.faults("hubspot", [{"match": BATCH_UPDATE, "status": 500, "after": 1, "times": 50}])
    with pytest.raises(Exception):  # noqa: B017 - whatever the retry gives up with
        _later_pass(e2e, page_size=PAGE)
    e2e.faults("hubspot", [])

    resumed, _ = _later_pass(e2e, page_size=PAGE)
    again, _ = _later_pass(e2e, full=True, page_size=PAGE)  # every link checked

    whole = len(e2e.records("hubspot", "contacts"))
    written = resumed.pushed["customers-to-hubspot"]["written"]
    assert written > 0 and written + 10 <= whole  # the first page's 10 were not resent
    assert again.pushed["customers-to-hubspot"]["written"] == 0
    assert again.pushed["customers-to-salesforce"]["written"] == 0
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            assert dirty_count(conn, resumed.tenant_id) == 0
    finally:
        runner.close()


def test_the_pass_holds_the_dirty_marks_of_a_page_only(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass reads each page's dirty marks before the page's orders, to clear only the
    customers no orders run marked again meanwhile. When a page is committed it keeps the
    marks of the customers whose writes it carries to the next page only, where before it
    kept every page's until the pass ended: a shop's worth of keys. Counted whenever the
    pass reads its next page; every customer ends clean all the same."""
    backfill(e2e)
    alive = Alive()
    counted = counted_str(alive)
    real_marks, real_page = refresh_module.dirty_marks, refresh_module.customer_page

    def dirty_marks(*args: Any, **kwargs: Any) -> dict[str, int]:
        return {counted(k): v for k, v in real_marks(*args, **kwargs).items()}

    at_pages: list[int] = []

    def customer_page(*args: Any, **kwargs: Any) -> list[str]:
        at_pages.append(alive.now)
        return real_page(*args, **kwargs)

    monkeypatch.setattr(refresh_module, "dirty_marks", dirty_marks)
    monkeypatch.setattr(refresh_module, "customer_page", customer_page)
    page, chunk = 10, 5
    runner = e2e.runner()
    for crm in ("hubspot", "salesforce"):  # this runner's connectors only
        runner.connector(crm).write_chunk = chunk  # type: ignore[attr-defined]
    try:
        refresh = dataclasses.replace(
            InsightsRefresh.for_runner(runner), clock=lambda: LATER, page_size=page
        )
        [summary] = refresh.run(full=True)
        with runner.db.connect() as conn:
            assert dirty_count(conn, summary.tenant_id) == 0
    finally:
        runner.close()
    assert summary.recomputed > 3 * page and not summary.errors
    assert summary.pushed["customers-to-hubspot"]["written"] > 3 * page
    # at most the carried writes of both pipelines: less than a write piece each
    assert len(at_pages) > 3 and max(at_pages) < 2 * chunk, at_pages
