"""The push engine and the delete breaker, on fake connectors: counted over the whole run."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from connectors.records import Record
from connectors.testing import FakeConnector
from mapping.config import Pipeline, parse_config
from store.models import RunStatus
from sync.breaker import tripped
from sync.hashing import FieldHasher
from sync.push.engine import PipelineRun
from sync.retry import RetryPolicy
from sync.run import RunSummary
from tests.sync.conftest import CONFIG, customer

ARCHIVE = "POST /objects/contacts/batch/archive"


def pipeline(settings: str) -> Pipeline:
    text = CONFIG.replace(
        "    match_key: {b2connect: email, crm: email}\n",
        "    match_key: {b2connect: email, crm: email}\n" + settings,
        1,
    )
    return parse_config(text).pipeline("customers")


def run(
    pipe: Pipeline,
    db: sa.Engine,
    source: FakeConnector,
    target: FakeConnector,
    *,
    dry_run: bool = False,
) -> RunSummary:
    return PipelineRun(
        pipeline=pipe,
        shop=source,
        crm=target,
        db=db,
        hasher=FieldHasher(b"k" * 32),
        tenant_id="t1",
        retry=RetryPolicy(attempts=2, initial=0.001, maximum=0.01),
        dry_run=dry_run,
    ).execute()


def synced(pipe: Pipeline, db: sa.Engine, n: int) -> tuple[FakeConnector, FakeConnector]:
    source, target = FakeConnector(page_size=1), FakeConnector()
    source.feed("customers", [customer(f"c{i}", f"p{i}@example.com") for i in range(n)])
    assert run(pipe, db, source, target).status is RunStatus.SUCCEEDED
    return source, target


def gone(key: str) -> Record:
    return replace(customer(key, f"{key}@example.com"), deleted=True)


def test_breaker_counts_deletions_across_flushes(db: sa.Engine) -> None:
    """With one record per flush the run stops at the limit: never more deletions than allowed."""
    pipe = pipeline(
        "    on_delete: archive\n    batch_size: 1\n    delete_breaker: {max_count: 2}\n"
    )
    source, target = synced(pipe, db, 30)
    source.feed("customers", [gone(f"c{i}") for i in range(4)])
    summary = run(pipe, db, source, target)
    assert summary.status is RunStatus.PAUSED
    assert summary.counts["deleted"] == 2
    assert target.calls[ARCHIVE] == 2
    with db.connect() as conn:
        trip = tripped(conn, "customers")
    assert trip is not None and (trip.deletes, trip.limit) == (3, 2)


def test_deletions_of_unlinked_records_cost_nothing(db: sa.Engine) -> None:
    """A deleted record that never reached the CRM makes no delete call and trips nothing."""
    pipe = pipeline("    on_delete: archive\n    delete_breaker: {max_count: 0}\n")
    source, target = synced(pipe, db, 2)
    source.feed("customers", [gone("never-synced")])
    summary = run(pipe, db, source, target)
    assert summary.status is RunStatus.SUCCEEDED
    assert target.calls[ARCHIVE] == 0


def test_repeated_deletion_is_not_deleted_twice(db: sa.Engine) -> None:
    """A deletion read again (overlapping reads) makes no second delete call."""
    pipe = pipeline("    on_delete: delete\n")
    source, target = synced(pipe, db, 3)
    source.feed("customers", [gone("c1")])
    assert run(pipe, db, source, target).counts["deleted"] == 1
    source.feed("customers", [gone("c1")])
    assert run(pipe, db, source, target).counts["deleted"] == 0
    assert target.calls[ARCHIVE] == 1


def test_dry_run_lists_deletions_without_deleting(db: sa.Engine) -> None:
    """--dry-run shows each deletion the policy would make; no delete call, no trip."""
    pipe = pipeline("    on_delete: archive\n    delete_breaker: {max_count: 1}\n")
    source, target = synced(pipe, db, 5)
    source.feed("customers", [gone("c1"), gone("c2")])
    summary = run(pipe, db, source, target, dry_run=True)
    assert summary.counts["would_delete"] == 2
    assert {(r["key"], r["action"]) for r in summary.dry_run_plan} >= {
        ("c1", "archive"),
        ("c2", "archive"),
    }
    assert target.calls[ARCHIVE] == 0
    with db.connect() as conn:
        assert tripped(conn, "customers") is None
