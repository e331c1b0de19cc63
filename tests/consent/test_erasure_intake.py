"""Erasure intake: bad input gets a clear status, duplicates merge, local state is purged."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from consent.erasure.model import SubjectIds
from consent.erasure.report import erasure_status
from store import session_scope
from store.models import Conflict, DeadLetter, PendingLink, Run, metadata
from tests.consent.erasure_kit import T0, Kit, make_kit


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return make_kit(tmp_path)


def test_malformed_email_is_rejected_without_a_request(kit: Kit) -> None:
    """A malformed email is refused with a reason and nothing is stored."""
    intake = kit.desk().file(SubjectIds(email="not-an-email"))
    assert intake.status == "rejected" and "not a valid address" in intake.message
    assert kit.count("erasure_requests") == 0


def test_no_identifier_is_rejected(kit: Kit) -> None:
    """A request naming nobody is refused."""
    assert kit.desk().file(SubjectIds()).status == "rejected"


def test_unknown_tenant_is_recorded_as_failed(kit: Kit) -> None:
    """A request for a tenant no connection serves is kept as failed, saying why."""
    intake = kit.desk().file(SubjectIds(email="ada@example.com"), tenant="nope")
    with kit.db.connect() as conn:
        [row] = erasure_status(conn, T0)
    assert intake.status == "unknown_tenant"
    assert row["status"] == "failed" and "tenant nope is not configured" in row["last_error"]
    assert row["steps"] == []


def test_unknown_customer_id_is_recorded_as_unknown_subject(kit: Kit) -> None:
    """A customer id neither B2Connect nor the links know is an unknown subject."""
    kit.customers["c-404"] = None
    intake = kit.desk().file(SubjectIds(customer_id="c-404"))
    assert intake.status == "unknown_subject" and not intake.ok
    assert kit.count("tombstones") == 0


def test_filing_purges_local_state_and_tombstones_without_clear_values(kit: Kit) -> None:
    """Links, dead letters, conflicts and pending links of the person go at once; the
    tombstones hold only keyed hashes."""
    kit.link("people-hs", "c1", "hs-1", "ada@example.com")
    kit.link("people-sf", "c1", "003A", "ada@example.com")
    kit.link("people-hs", "c2", "hs-2", "bob@example.com")
    tables = metadata.tables
    with session_scope(kit.db) as session:
        session.add(Run(id="r1", pipeline="orders-hs", trigger="x"))
        session.flush()
        payload = {"source": {"customerId": "c1", "customerEmail": "ADA@example.com"}}
        session.add(
            DeadLetter(
                pipeline="orders-hs", run_id="r1", stream="orders", record_key="o1",
                payload=payload, error_code="X", error_message="m",
            )
        )  # fmt: skip
        session.add(Conflict(pipeline="people-hs", record_key="c1", kind="k"))
        session.add(
            PendingLink(
                pipeline="orders-hs", record_key="o1", target_pipeline="people-hs",
                target_key="c1", what="contact",
            )
        )  # fmt: skip
    intake = kit.desk().file(SubjectIds(email="Ada@Example.com"))
    with kit.db.connect() as conn:
        keys = sorted(r.b2connect_key for r in conn.execute(sa.select(tables["links"])))
        kinds = sorted(r.kind for r in conn.execute(sa.select(tables["tombstones"])))
        dump = " ".join(str(tuple(r)) for r in conn.execute(sa.select(tables["tombstones"])))
    assert intake.status == "filed"
    assert keys == ["c2"]
    assert kit.count("dead_letters") == kit.count("conflicts") == kit.count("pending_links") == 0
    assert kinds == ["customer_id", "email", "hubspot_id", "salesforce_id"]
    assert "ada" not in dump.lower() and "c1" not in dump and "hs-1" not in dump


def test_duplicate_request_merges_into_the_open_one(kit: Kit) -> None:
    """A second request for the same person (by another identifier) joins the first."""
    kit.link("people-hs", "c1", "hs-1", "ada@example.com")
    first = kit.desk().file(SubjectIds(email="ada@example.com"))
    second = kit.desk().file(SubjectIds(customer_id="c1"))
    assert (first.status, second.status) == ("filed", "merged")
    assert second.request_id == first.request_id
    assert kit.count("erasure_requests") == 1


def test_crm_echo_of_a_finished_erasure_is_already_erased(kit: Kit) -> None:
    """HubSpot's privacyDeletion webhook for a contact we erased finds the tombstone."""
    kit.link("people-hs", "c1", "hs-1", "ada@example.com")
    first = kit.desk().file(SubjectIds(email="ada@example.com"))
    kit.processor().process()
    echo = kit.desk().file(SubjectIds(crm_ids={"hubspot": "hs-1"}))
    assert echo.status == "already_erased" and echo.request_id == first.request_id
    assert kit.count("erasure_requests") == 1


def test_request_is_due_thirty_days_after_it_arrived(kit: Kit) -> None:
    """The legal deadline is received + 30 days."""
    kit.desk().file(SubjectIds(email="ada@example.com"))
    with kit.db.connect() as conn:
        [row] = erasure_status(conn, T0)
    assert row["due_at"] == "2026-03-31T12:00:00+00:00" and row["days_left"] == 30


def test_filing_purges_rows_other_features_keep_per_customer(kit: Kit) -> None:
    """Per-customer rows of other features (here a fired workflow rule) go too."""
    firings = metadata.tables["rule_firings"]
    with kit.db.begin() as conn:
        for key in ("c1", "c2"):
            conn.execute(
                firings.insert().values(
                    tenant_id="t1", customer_key=key, rule="vip", transition="t#1",
                    fired_at=T0, outcome="done",
                )
            )  # fmt: skip
    kit.desk().file(SubjectIds(customer_id="c1", email="ada@example.com"))
    with kit.db.connect() as conn:
        left = [r.customer_key for r in conn.execute(sa.select(firings))]
    assert left == ["c2"]


def test_consent_rows_of_an_email_only_person_are_purged(kit: Kit) -> None:
    """A person the consent sync knows only by email (a CRM-only contact) loses their
    consent rows too; someone else's stay."""
    from consent.consent_store import email_hash, subject_for

    with kit.db.begin() as conn:
        for email in ("ada@example.com", "bob@example.com"):
            hashed = email_hash(kit.hasher, email)
            subject_for(conn, "t1", hashed=hashed, customer_id=None, now=T0)
    kit.desk().file(SubjectIds(email="Ada@Example.com"))
    assert kit.count("consent_subjects") == 1
