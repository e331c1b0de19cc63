"""The consent sync job on in-memory systems: decisions, echoes, defaults, refusals, privacy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import ConsentFact, ConsentPage, ConsentWrite
from connectors.records import WriteResult
from consent.job import ConsentSync
from mapping.config import ConsentSettings
from store.models import metadata
from sync.hashing import FieldHasher

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EMAIL = "ada@example.com"


class System:
    """An in-memory consent system: facts to hand out, writes it received, refusals."""

    def __init__(self) -> None:
        self.facts: list[ConsentFact] = []
        self.writes: list[ConsentWrite] = []
        self.refuse: dict[str, str] = {}

    def read_consents(
        self, mapping: Any, cursor: Mapping[str, Any] | None
    ) -> Iterator[ConsentPage]:
        start = int((cursor or {}).get("n", 0))
        yield ConsentPage(self.facts[start:], {"n": len(self.facts)})

    def write_consents(self, mapping: Any, writes: Sequence[ConsentWrite]) -> list[WriteResult]:
        self.writes.extend(writes)
        return [
            WriteResult.failure(w.key, self.refuse[w.email or ""], f"{w.email} was refused")
            if (w.email or "") in self.refuse
            else WriteResult.success(w.key, "ref-1")
            for w in writes
        ]


def fact(status: str, at: datetime, **kw: Any) -> ConsentFact:
    return ConsentFact("email", "marketing", status, at, email=EMAIL, **kw)


@pytest.fixture
def systems() -> dict[str, System]:
    return {"shop": System(), "hs": System()}


@pytest.fixture
def job(sqlite_store_engine: sa.Engine, systems: dict[str, System]) -> ConsentSync:
    settings = ConsentSettings.model_validate(
        {
            "b2connect": "shop",
            "hubspot": {
                "connection": "hs",
                "subscriptions": [{"purpose": "marketing", "subscription_id": 101}],
            },
        }
    )
    return ConsentSync(
        settings,
        db=sqlite_store_engine,
        hasher=FieldHasher(b"k" * 32),
        connector=systems.__getitem__,
        tenant_id="t1",
        clock=lambda: T0 + timedelta(days=1),
    )


def test_a_decision_in_one_system_is_written_to_the_others(
    job: ConsentSync, systems: dict[str, System]
) -> None:
    """An opt-out read from the shop goes to HubSpot with its own time and source."""
    systems["shop"].facts.append(fact("withdrawn", T0, customer_id="c1"))
    summary = job.run()
    [write] = systems["hs"].writes
    assert (write.status, write.decided_at, write.source_system) == ("withdrawn", T0, "b2connect")
    assert summary.decisions == 1 and summary.applied == {"hubspot": 1}
    assert systems["shop"].writes == []


def test_our_own_write_coming_back_is_not_a_new_decision(
    job: ConsentSync, systems: dict[str, System]
) -> None:
    """HubSpot reporting the status we wrote (with a later stamp) changes nothing."""
    systems["shop"].facts.append(fact("withdrawn", T0))
    job.run()
    systems["hs"].facts.append(fact("withdrawn", T0 + timedelta(minutes=5)))
    summary = job.run()
    assert summary.decisions == 0
    assert len(systems["hs"].writes) == 1 and systems["shop"].writes == []


def test_an_unticked_default_is_not_a_decision(
    job: ConsentSync, systems: dict[str, System]
) -> None:
    """An implicit grant first seen does not override the shop's older opt-out."""
    systems["shop"].facts.append(fact("withdrawn", T0))
    systems["hs"].facts.append(fact("granted", T0 + timedelta(hours=1), implicit=True))
    summary = job.run()
    assert summary.decisions == 1
    assert [w.status for w in systems["hs"].writes] == ["withdrawn"]


def test_unticking_after_an_opt_out_is_a_resubscribe(
    job: ConsentSync, systems: dict[str, System]
) -> None:
    """An opt-out box that gets unticked later is a new opt-in."""
    systems["hs"].facts.append(fact("withdrawn", T0))
    job.run()
    systems["hs"].facts.append(fact("granted", T0 + timedelta(hours=1), implicit=True))
    summary = job.run()
    assert summary.decisions == 1
    assert [w.status for w in systems["shop"].writes] == ["withdrawn", "granted"]


def test_a_refused_resubscribe_is_recorded_and_not_retried(
    job: ConsentSync, systems: dict[str, System]
) -> None:
    """CANNOT_RESUBSCRIBE is kept as the reason; the next run does not try again."""
    systems["hs"].refuse[EMAIL] = "CANNOT_RESUBSCRIBE"
    systems["shop"].facts.append(fact("granted", T0))
    summary = job.run()
    assert summary.not_applied == {"hubspot": 1}
    assert "CANNOT_RESUBSCRIBE" in summary.reasons[0]
    job.run()
    assert len(systems["hs"].writes) == 1


def test_a_person_missing_from_the_crm_is_written_once_they_appear(
    job: ConsentSync, systems: dict[str, System]
) -> None:
    """NOT_IN_CRM waits without retries until the CRM shows the person."""
    systems["hs"].refuse[EMAIL] = "NOT_IN_CRM"
    systems["shop"].facts.append(fact("granted", T0))
    assert job.run().absent == {"hubspot": 1}
    job.run()
    assert len(systems["hs"].writes) == 1
    del systems["hs"].refuse[EMAIL]
    systems["hs"].facts.append(fact("unknown", T0 + timedelta(hours=2)))
    assert job.run().applied == {"hubspot": 1}


def test_the_store_never_holds_the_email(
    job: ConsentSync, systems: dict[str, System], sqlite_store_engine: sa.Engine
) -> None:
    """Consent tables keep a keyed hash of the email, never the address, refusals included."""
    systems["hs"].refuse[EMAIL] = "CANNOT_RESUBSCRIBE"
    systems["shop"].facts.append(fact("granted", T0, customer_id="c1"))
    summary = job.run()
    assert summary.reasons and EMAIL not in " ".join(summary.reasons)
    with sqlite_store_engine.connect() as conn:
        for name in ("consent_subjects", "consent_states", "consent_system_states"):
            for row in conn.execute(sa.select(metadata.tables[name])):
                assert all(EMAIL not in str(value) for value in row)


def test_a_large_page_of_facts_is_applied_a_chunk_per_write_transaction(
    job: ConsentSync, systems: dict[str, System], sqlite_store_engine: sa.Engine
) -> None:
    """Issue 18: a first consent run reads thousands of facts in one page; applying them in
    one write transaction held the store's write lock for seconds while a webhook's run
    waited. At most FACTS_PER_WRITE facts go into one transaction, the cursor moves with the
    last one, and every fact is applied. Counted (state rows per transaction), never timed."""
    from sqlalchemy import event

    from consent.consent_read import CURSOR_PIPELINE, FACTS_PER_WRITE

    total = 2 * FACTS_PER_WRITE + 7
    systems["shop"].facts.extend(
        ConsentFact("email", "marketing", "granted", T0, email=f"p{i}@example.org")
        for i in range(total)
    )
    saves: list[int] = [0]
    per_write: list[int] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # a new person's status: one INSERT (after an UPDATE that found no row)
        if statement.lstrip().upper().startswith("INSERT INTO CONSENT_SYSTEM_STATES"):
            saves[0] += 1

    def committed(_conn: Any) -> None:
        if saves[0]:
            per_write.append(saves[0])
        saves[0] = 0

    event.listen(sqlite_store_engine, "before_cursor_execute", count)
    event.listen(sqlite_store_engine, "commit", committed)
    try:
        summary = job.run()
    finally:
        event.remove(sqlite_store_engine, "before_cursor_execute", count)
        event.remove(sqlite_store_engine, "commit", committed)
    assert summary.facts["b2connect"] == total
    assert per_write[:3] == [FACTS_PER_WRITE, FACTS_PER_WRITE, 7], per_write
    with sqlite_store_engine.connect() as conn:
        cursors = conn.execute(
            sa.text("SELECT value FROM cursors WHERE pipeline = :p"), {"p": CURSOR_PIPELINE}
        ).scalars()
        assert any(str(total) in str(value) for value in cursors)
