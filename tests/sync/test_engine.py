"""The push engine against in-memory connectors: what is written, skipped, parked."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from connectors.testing import FakeConnector
from store.models import RunStatus, metadata
from tests.sync.conftest import RunFn, customer, order


def rows(db: sa.Engine, table: str) -> list[dict[str, object]]:
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(metadata.tables[table]))]


def test_backfill_then_noop_rerun_costs_no_writes(run: RunFn) -> None:
    """All records are written once; an unchanged rerun makes zero write calls."""
    source, target = FakeConnector(page_size=2), FakeConnector()
    source.feed("customers", [customer(f"c{i}", f"p{i}@example.com") for i in range(5)])
    first = run("customers", source, target)
    assert first.status is RunStatus.SUCCEEDED
    assert first.counts["created"] == 5 and target.count("contacts") == 5
    target.calls.clear()
    second = run("customers", source, target, full=True)
    assert second.counts["unchanged"] == 5 and second.counts["written"] == 0
    assert not [k for k in target.calls if "upsert" in k]


def test_incremental_run_reads_from_cursor_and_sends_only_changed_fields(run: RunFn) -> None:
    """A later change is read from the cursor and only its changed field is sent."""
    source, target = FakeConnector(), FakeConnector()
    source.feed("customers", [customer("c1", "a@example.com", "Ann")])
    run("customers", source, target)
    source.feed("customers", [customer("c1", "a@example.com", "Anna")])
    sent: list[dict[str, object]] = []
    original = target.write

    def spy(stream, batch, **kw):  # type: ignore[no-untyped-def]
        sent.extend(dict(i.payload) for i in batch)
        return original(stream, batch, **kw)

    target.write = spy  # type: ignore[method-assign]
    summary = run("customers", source, target)
    assert summary.counts["read"] == 1 and summary.counts["updated"] == 1
    assert sent == [{"firstname": "Anna"}]
    assert target.record("contacts", "c1")["firstname"] == "Anna"  # type: ignore[index]


def test_mapping_error_is_dead_lettered_with_field_and_run_goes_on(
    run: RunFn, db: sa.Engine
) -> None:
    """An invalid email goes to dead_letters naming the field; the others are written."""
    source, target = FakeConnector(), FakeConnector()
    source.feed("customers", [customer("c1", "not-an-email"), customer("c2", "b@example.com")])
    summary = run("customers", source, target)
    assert summary.status is RunStatus.SUCCEEDED
    assert target.count("contacts") == 1
    dead = rows(db, "dead_letters")
    assert [(d["record_key"], d["error_code"], d["error_field"]) for d in dead] == [
        ("c1", "MAPPING_ERROR", "email")
    ]
    assert "not a valid email address" in str(dead[0]["error_message"])


def test_rejected_record_is_parked_and_replayed_after_fix(run: RunFn, db: sa.Engine) -> None:
    """A CRM rejection is dead-lettered with the vendor code; a replay writes it later."""
    from sync.replay import ReplaySource, due_dead_letters

    source, target = FakeConnector(), FakeConnector()
    source.feed("customers", [customer("c1", "a@example.com"), customer("c2", "b@example.com")])
    target.reject["c2"] = "DUPLICATE_VALUE"
    run("customers", source, target)
    assert [d["error_code"] for d in rows(db, "dead_letters")] == ["DUPLICATE_VALUE"]
    del target.reject["c2"]
    from datetime import UTC, datetime

    with db.connect() as conn:
        from tests.sync.conftest import CONFIG, parse_config

        pipe = parse_config(CONFIG).pipeline("customers")
        parked = due_dead_letters(conn, pipe, datetime.now(UTC), everything=True)
    assert [r.key for r in parked] == ["c2"]
    summary = run("customers", ReplaySource(parked), target, replay=True)
    assert summary.counts["written"] == 1 and target.count("contacts") == 2
    assert [d["status"] for d in rows(db, "dead_letters")] == ["resolved"]


def test_transient_record_failure_is_retried_within_the_run(run: RunFn) -> None:
    """A row lock (retriable) is retried in the same run and succeeds."""
    source, target = FakeConnector(), FakeConnector()
    source.feed("customers", [customer("c1", "a@example.com")])
    target.transient["c1"] = 2
    summary = run("customers", source, target)
    assert summary.counts["written"] == 1 and summary.counts["dead_lettered"] == 0


def test_existing_crm_record_is_matched_not_duplicated(run: RunFn, db: sa.Engine) -> None:
    """A CRM contact with the same email (other case) is linked and updated, not duplicated."""
    source, target = FakeConnector(), FakeConnector()
    target.objects["contacts"] = {"hs-1": {"email": "Ann@Example.com ", "firstname": "Old"}}
    source.feed("customers", [customer("c1", "ann@example.com")])
    summary = run("customers", source, target)
    assert summary.counts["matched"] == 1
    assert target.count("contacts") == 1
    assert target.objects["contacts"]["hs-1"]["firstname"] == "Ann"
    assert [(r["b2connect_key"], r["crm_id"]) for r in rows(db, "links")] == [("c1", "hs-1")]


def test_ambiguous_match_is_a_conflict_never_a_duplicate(run: RunFn, db: sa.Engine) -> None:
    """Two CRM candidates → an open conflict, nothing written for that record."""
    source, target = FakeConnector(), FakeConnector()
    target.objects["contacts"] = {"a": {"email": "x@example.com"}, "b": {"email": "x@example.com"}}
    source.feed("customers", [customer("c1", "x@example.com")])
    summary = run("customers", source, target)
    assert summary.counts["conflicts"] == 1 and target.count("contacts") == 2
    conflicts = rows(db, "conflicts")
    assert conflicts[0]["kind"] == "ambiguous_match" and conflicts[0]["status"] == "open"


def test_order_before_its_customer_is_completed_later(run: RunFn, db: sa.Engine) -> None:
    """An order whose customer is not synced yet is written; link and association follow."""
    source, target = FakeConnector(), FakeConnector()
    source.feed("orders", [order("o1", "c1")])
    first = run("orders", source, target)
    assert first.counts["written"] == 1 and first.counts["deferred"] == 2
    assert "contact_id" not in target.record("orders", "o1")  # type: ignore[operator]
    source.feed("customers", [customer("c1", "a@example.com")])
    run("customers", source, target)
    second = run("orders", source, target)
    assert second.counts["deferred_completed"] == 2
    contact_id = target.ids["contacts"]["c1"]
    assert target.record("orders", "o1")["contact_id"] == contact_id  # type: ignore[index]
    order_id = target.ids["orders"]["o1"]
    assert ("orders", order_id, "contacts", contact_id, 507) in target.associations
    assert rows(db, "pending_links") == []


def test_order_lines_are_written_and_associated(run: RunFn) -> None:
    """Lines become line items associated to their order; unchanged lines cost nothing."""
    source, target = FakeConnector(), FakeConnector()
    source.feed("customers", [customer("c1", "a@example.com")])
    source.feed("orders", [order("o1", "c1", lines=3)])
    run("customers", source, target)
    summary = run("orders", source, target)
    assert summary.counts["lines_written"] == 3 and target.count("line_items") == 3
    order_id = target.ids["orders"]["o1"]
    assert {a for a in target.associations if a[4] == 513} == {
        ("orders", order_id, "line_items", target.ids["line_items"][f"o1-l{i}"], 513)
        for i in range(3)
    }
    target.calls.clear()
    again = run("orders", source, target, full=True)
    assert again.counts["unchanged"] == 1 and not target.calls.get(
        "POST /objects/line_items/batch/upsert"
    )


def test_dry_run_writes_nothing_and_moves_no_cursor(run: RunFn, db: sa.Engine) -> None:
    """--dry-run reports planned creates with values, writes nothing, stores no cursor."""
    source, target = FakeConnector(), FakeConnector()
    source.feed("customers", [customer("c1", "a@example.com", "Christopher-Long")])
    summary = run("customers", source, target, dry_run=True)
    assert target.count("contacts") == 0
    assert summary.dry_run_plan[0]["action"] == "create"
    assert summary.dry_run_plan[0]["fields"]["firstname"] == "Christophe"  # truncated to 10
    assert rows(db, "cursors") == [] and rows(db, "links") == []


def test_crash_between_write_and_commit_replays_without_duplicates(
    run: RunFn, db: sa.Engine
) -> None:
    """If the process dies after the CRM write but before commit, the rerun upserts again."""
    source, target = FakeConnector(), FakeConnector()
    source.feed("customers", [customer(f"c{i}", f"p{i}@example.com") for i in range(3)])
    import sync.push.engine as engine_module

    original = engine_module.PipelineRun._commit

    def crash(self, *a, **kw):  # type: ignore[no-untyped-def]
        raise SystemExit("killed")

    engine_module.PipelineRun._commit = crash  # type: ignore[method-assign]
    try:
        with pytest.raises(SystemExit):
            run("customers", source, target)
    finally:
        engine_module.PipelineRun._commit = original  # type: ignore[method-assign]
    assert target.count("contacts") == 3 and rows(db, "links") == []
    with db.begin() as conn:
        conn.execute(sa.delete(metadata.tables["locks"]))
    summary = run("customers", source, target)
    assert summary.counts["written"] == 3 and target.count("contacts") == 3


def test_rejected_new_record_is_not_resent_until_it_changes(run: RunFn) -> None:
    """A refused new record is parked: a full rerun skips it; a change in B2Connect retries it."""
    source, target = FakeConnector(), FakeConnector()
    source.feed("customers", [customer("c1", "a@example.com")])
    target.reject["c1"] = "INVALID_FIELD"
    run("customers", source, target)
    target.calls.clear()
    again = run("customers", source, target, full=True)
    assert again.counts["parked"] == 1 and not target.calls
    del target.reject["c1"]
    source.feed("customers", [customer("c1", "a@example.com", "Changed")])
    third = run("customers", source, target)
    assert third.counts["created"] == 1 and target.count("contacts") == 1


def test_bad_values_are_parked_by_field_and_odd_text_is_written(run: RunFn, db: sa.Engine) -> None:
    """Wrong types name their field; emoji and right-to-left text go through unchanged."""
    source, target = FakeConnector(), FakeConnector()
    source.feed(
        "customers",
        [customer("c1", "a@example.com", "Zoë 🚀"), customer("c2", "b@example.com", "مريم")],
    )
    bad = order("o1", "c1")
    source.feed(
        "orders", [bad.__class__(bad.stream, bad.key, {**bad.fields, "totalAmount": "twelve"})]
    )
    run("customers", source, target)
    summary = run("orders", source, target)
    assert target.record("contacts", "c1")["firstname"] == "Zoë 🚀"  # type: ignore[index]
    assert target.record("contacts", "c2")["firstname"] == "مريم"  # type: ignore[index]
    assert summary.counts["dead_lettered"] == 1
    [dead] = [d for d in rows(db, "dead_letters") if d["pipeline"] == "orders"]
    assert (dead["error_code"], dead["error_field"]) == ("MAPPING_ERROR", "totalAmount")
