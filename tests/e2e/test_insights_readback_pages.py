"""End to end (issue 18: peak RSS flat from 10k to 100k customers): the insights pass reads
the CRMs' engagement and support data back a page of linked customers at a time, so it holds
a page's ids and readings, not every linked contact of every CRM at once. Counted (links
rows each query returns, read-back calls at the emulators), never timed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from insights.ledger import get_value
from insights.refresh import InsightsRefresh, RefreshSummary
from tests.e2e.conftest import E2E
from tests.e2e.insights_support import backfill

PAGE = 10
#: the read-backs of the shipped config: (kind, CRM connection)
READS = (("engagement", "hubspot"), ("support", "hubspot"), ("support", "salesforce"))
BATCH_READ = "POST /crm/v3/objects/{object_type}/batch/read"


@contextmanager
def _link_rows(db: sa.Engine) -> Iterator[list[int]]:
    """The rows each SELECT on ``links`` without an IN list (a walk over a pipeline's links,
    not a lookup of given keys) returns, counted by running it again on its connection."""
    seen: list[int] = []

    def count(_conn: Any, cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        text = statement.lstrip().upper()
        if text.startswith("SELECT") and "FROM LINKS" in text and " IN (" not in text:
            again = cursor.connection.cursor()
            try:
                again.execute(statement, parameters)
                seen.append(len(again.fetchall()))
            finally:
                again.close()

    sa.event.listen(db, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(db, "before_cursor_execute", count)


def _full_pass(e2e: E2E, **changes: Any) -> tuple[RefreshSummary, list[int]]:
    """A full pass (every read-back due) with 10-id HubSpot read pieces."""
    runner = e2e.runner()
    try:
        runner.connector("hubspot").read_chunk = PAGE  # type: ignore[attr-defined]
        refresh = dataclasses.replace(InsightsRefresh.for_runner(runner), **changes)
        with _link_rows(runner.db) as rows:
            [summary] = refresh.run(full=True)
        return summary, rows
    finally:
        runner.close()


def test_read_back_walks_the_links_a_page_at_a_time(e2e: E2E) -> None:
    """Pages of 10: no walk over the links returns more than a page (the read-back took
    every linked contact of each CRM at once before), every linked contact is still read
    (one engagement batch read per 10), and each read is marked done."""
    backfill(e2e)
    linked = len(e2e.records("hubspot", "contacts"))
    before = e2e.calls("hubspot")

    summary, rows = _full_pass(e2e, page_size=PAGE)

    assert linked > 2 * PAGE and not summary.errors
    assert rows and max(rows) <= PAGE
    grown = e2e.calls("hubspot").get(BATCH_READ, 0) - before.get(BATCH_READ, 0)
    assert grown >= -(-linked // PAGE)  # engagement; tickets and answers read per piece too
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            marks = [
                get_value(conn, f"insights:{kind}_read:{summary.tenant_id}:{source}")
                for kind, source in READS
            ]
    finally:
        runner.close()
    assert all(marks), marks
