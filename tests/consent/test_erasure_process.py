"""Erasure steps: per-system status, retry with backoff, refusals, ordering, shredding."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa

from audit import ERASED, AuditEvent, Filters, record_events, search, verify
from b2sync.service import store_totals
from consent.erasure.model import MAX_ATTEMPTS, Origin, StepStatus, SubjectIds
from consent.erasure.report import erasure_status
from store.models import metadata
from tests.consent.erasure_kit import T0, Kit, make_kit


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return make_kit(tmp_path)


def _steps(kit: Kit) -> dict[str, dict[str, object]]:
    with kit.db.connect() as conn:
        [row] = erasure_status(conn, kit.clock())
    return {s["system"]: s for s in row["steps"]} | {"request": {"status": row["status"]}}


def test_every_system_done_completes_the_request(kit: Kit) -> None:
    """HubSpot, Salesforce and B2Connect each erase; then the audit keys go; completed."""
    kit.desk().file(SubjectIds(email="ada@example.com", customer_id="c1"))
    kit.processor().process()
    steps = _steps(kit)
    assert {k: v["status"] for k, v in steps.items()} == {
        "local": "done", "hs": "done", "sf": "done", "shop": "done", "audit": "done",
        "request": "completed",
    }  # fmt: skip
    assert [s.email for s in kit.systems["hs"].erased] == ["ada@example.com"]
    with kit.db.connect() as conn:
        sealed = [r.sealed for r in conn.execute(sa.select(metadata.tables["erasure_subjects"]))]
    assert sealed == [None]  # the identifiers are gone once the request is over


def test_system_down_retries_with_growing_backoff(kit: Kit) -> None:
    """A 503 puts the step in retrying with a next attempt that moves further out."""
    kit.systems["hs"].mode = "down"
    kit.desk().file(SubjectIds(email="ada@example.com"))
    waits = []
    for _ in range(4):
        kit.processor().process()
        step = _steps(kit)["hs"]
        assert step["status"] == "retrying" and "503" in str(step["detail"])
        when = step["next_attempt_at"]
        assert isinstance(when, str)
        waits.append(kit.now[0])
        kit.now[0] = kit.now[0].fromisoformat(when)
    gaps = [b - a for a, b in pairwise(waits)]
    assert gaps == sorted(gaps) and gaps[0] < gaps[-1]
    assert _steps(kit)["audit"]["status"] == "pending"
    assert _steps(kit)["request"]["status"] == "in_progress"


def test_step_not_due_yet_is_left_alone(kit: Kit) -> None:
    """Processing again before the next attempt time calls nobody."""
    kit.systems["hs"].mode = "down"
    kit.desk().file(SubjectIds(email="ada@example.com"))
    kit.processor().process()
    kit.systems["hs"].mode = None
    assert kit.processor().process() == []
    assert _steps(kit)["hs"]["status"] == "retrying"


def test_refusal_is_failed_with_reason_and_a_retry_scheduled(kit: Kit) -> None:
    """A CRM that rejects the delete: failed, its reason kept, a later attempt planned."""
    kit.systems["sf"].mode = "refuse"
    kit.desk().file(SubjectIds(email="ada@example.com"))
    kit.processor().process()
    step = _steps(kit)["sf"]
    assert step["status"] == "failed" and "missing permission" in str(step["detail"])
    assert step["next_attempt_at"] is not None
    assert _steps(kit)["request"]["status"] == "in_progress"


def test_a_vendor_message_quoting_the_email_is_stored_redacted(kit: Kit) -> None:
    """A refusal whose message quotes the email keeps code and reason, never the address."""
    kit.systems["hs"].mode = "quote"
    kit.desk().file(SubjectIds(email="ada@example.com", customer_id="c1"))
    kit.processor().process()
    steps = _steps(kit)
    assert "TOO_LARGE" in str(steps["hs"]) or "value too large" in str(steps["hs"])
    with kit.db.connect() as conn:
        stored = [
            str(v)
            for table in ("erasure_steps", "erasure_requests")
            for row in conn.execute(sa.select(metadata.tables[table]))
            for v in row
        ]
        [status] = erasure_status(conn, kit.clock())
    assert not [v for v in stored if "ada@example.com" in v]
    assert "ada@example.com" not in str(status)


def test_gives_up_after_max_attempts_and_the_request_fails(kit: Kit) -> None:
    """After the last attempt the step stays failed without retry and the request fails."""
    kit.systems["sf"].mode = "not_done"
    kit.desk().file(SubjectIds(email="ada@example.com"))
    for _ in range(MAX_ATTEMPTS):
        kit.processor().process(force=True)
    step = _steps(kit)["sf"]
    assert step["status"] == "failed" and step["next_attempt_at"] is None
    assert "gave up" in str(step["detail"])
    assert _steps(kit)["request"]["status"] == "failed"


def test_shop_request_tells_b2connect_completed_after_the_crms(kit: Kit) -> None:
    """A request from B2Connect waits for the CRMs, then marks B2Connect's request done."""
    kit.systems["hs"].mode = "down"
    kit.desk().file(
        SubjectIds(email="ada@example.com"), origin=Origin.B2CONNECT, external_ref="er-1"
    )
    kit.processor().process()
    assert _steps(kit)["shop"]["status"] == "pending" and not kit.systems["shop"].writes
    kit.systems["hs"].mode = None
    kit.now[0] += timedelta(hours=1)
    kit.processor().process()
    [(stream, item)] = kit.systems["shop"].writes
    assert (stream, item.key, item.payload["status"]) == ("erasures", "er-1", "completed")
    assert _steps(kit)["request"]["status"] == "completed"


def test_hubspot_origin_needs_no_hubspot_call(kit: Kit) -> None:
    """A request from HubSpot's privacyDeletion marks HubSpot done at once."""
    kit.link("people-hs", "c1", "hs-1", "ada@example.com")
    kit.desk().file(SubjectIds(crm_ids={"hubspot": "hs-1"}), origin=Origin.HUBSPOT)
    kit.processor().process()
    assert not kit.systems["hs"].erased
    assert [s.b2connect_id for s in kit.systems["sf"].erased] == ["c1"]
    assert _steps(kit)["request"]["status"] == "completed"


def test_shredding_leaves_a_verifiable_trail_reading_erased(kit: Kit) -> None:
    """The person's earlier events stay in the chain, which verifies, with [erased] values."""
    assert kit.keys is not None
    with kit.db.begin() as conn:
        event = AuditEvent(
            actor="pipeline:people-hs", tenant_id="t1", action="crm.write", stream="contacts",
            record_key="c1", subject="c1", values={"email": {"old": None, "new": "ada@x.org"}},
        )  # fmt: skip
        record_events(conn, [event], keys=kit.keys, now=T0)
    kit.desk().file(SubjectIds(customer_id="c1", email="ada@x.org"))
    kit.processor().process()
    with kit.db.connect() as conn:
        views = search(conn, kit.keys, Filters(subject="c1"))
        report = verify(conn, keys=kit.keys)
    assert report.ok
    assert views[0].action == "crm.write" and views[0].values == ERASED
    steps = [v for v in views if v.action == "erasure.step"]
    assert steps and {v.outcome for v in steps} >= {"received", "done"}


def test_overdue_lists_only_late_open_requests(kit: Kit) -> None:
    """--overdue: open requests past received + 30 days."""
    kit.systems["hs"].mode = "refuse"
    kit.desk().file(SubjectIds(email="ada@example.com"))
    kit.desk().file(SubjectIds(email="bob@example.com"))
    kit.systems["hs"].mode = None
    kit.processor().process(2)
    kit.now[0] = T0 + timedelta(days=31)
    with kit.db.connect() as conn:
        late = erasure_status(conn, kit.clock(), overdue=True)
        every = erasure_status(conn, kit.clock())
    assert [r["id"] for r in late] == [1] and late[0]["overdue"]
    assert len(every) == 2


def test_step_statuses_are_the_documented_ones() -> None:
    """pending, retrying, done, failed, skipped."""
    assert [s.value for s in StepStatus] == ["pending", "retrying", "done", "failed", "skipped"]


def test_shop_request_for_someone_being_erased_is_answered(kit: Kit) -> None:
    """A shop request merged into an open operator request still gets B2Connect's answer."""
    kit.systems["hs"].mode = "down"
    first = kit.desk().file(SubjectIds(email="ada@example.com"))
    shop = kit.desk().file(
        SubjectIds(email="ada@example.com"), origin=Origin.B2CONNECT, external_ref="er-9"
    )
    again = kit.desk().file(
        SubjectIds(email="ada@example.com"), origin=Origin.B2CONNECT, external_ref="er-9"
    )
    kit.processor().process()
    assert shop.status == again.status == "merged" and shop.request_id == first.request_id
    assert [(s, i.key) for s, i in kit.systems["shop"].writes] == [("erasures", "er-9")]
    with kit.db.connect() as conn:
        rows = {r["subject_ref"]: r["status"] for r in erasure_status(conn, kit.clock())}
    assert rows[f"ack-{first.request_id}"] == "completed"


def test_force_retries_a_step_that_gave_up(kit: Kit) -> None:
    """erasure process --force runs a step left failed for an operator."""
    kit.systems["sf"].mode = "not_done"
    kit.desk().file(SubjectIds(email="ada@example.com"))
    for _ in range(MAX_ATTEMPTS):
        kit.processor().process(force=True)
    kit.systems["sf"].mode = None
    assert kit.processor().process() == []
    kit.processor().process(force=True)
    assert _steps(kit)["request"]["status"] == "completed"


def test_overdue_requests_are_counted_for_the_metrics(kit: Kit) -> None:
    """The daemon's store totals count open requests past their deadline."""
    kit.systems["hs"].mode = "refuse"
    kit.now[0] = T0 - timedelta(days=40)
    kit.desk().file(SubjectIds(email="ada@example.com"))
    kit.processor().process()
    with kit.db.connect() as conn:
        totals = store_totals(conn)
    assert totals["erasures_pending"] == 1 and totals["erasures_overdue"] == 1
