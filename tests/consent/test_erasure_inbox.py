"""The erasure inbox: a webhook-borne request stays in the store until the transaction that
files it, so a tick that fails half-way loses nothing and files nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from consent.erasure.inbox import drain_inbox, inbox_size, put_in_inbox
from consent.erasure.model import Origin, SubjectIds
from consent.erasure.sources import IntakeItem
from consent.erasure.store import seal_key
from tests.consent.erasure_kit import Kit, make_kit


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return make_kit(tmp_path)


def _put(kit: Kit, *items: IntakeItem) -> None:
    with kit.db.begin() as conn:
        put_in_inbox(conn, seal_key(kit.hasher), items, kit.clock())


def test_inbox_rows_hold_no_clear_identifier(kit: Kit) -> None:
    """What waits in the inbox is sealed: the email is nowhere in the row."""
    _put(kit, IntakeItem(SubjectIds(email="ada@example.com"), Origin.HUBSPOT))
    with kit.db.connect() as conn:
        [row] = conn.exec_driver_sql("SELECT * FROM erasure_inbox").all()
    assert b"ada@example.com" not in bytes(row.sealed)
    assert "ada@example.com" not in repr(tuple(row))


def test_a_failed_tick_keeps_the_requests_it_did_not_file(kit: Kit) -> None:
    """The second request's filing fails (B2Connect lookup crashes): the first is filed and
    gone from the inbox, the second waits; the next tick files it, nothing is filed twice."""
    _put(
        kit,
        IntakeItem(SubjectIds(email="ada@example.com"), Origin.B2CONNECT, external_ref="er-1"),
        IntakeItem(SubjectIds(customer_id="c9"), Origin.B2CONNECT, external_ref="er-2"),
    )
    desk = kit.desk()

    def broken(connection: str, customer_id: str) -> None:
        raise RuntimeError(f"lookup of {customer_id} on {connection} crashed")

    desk.fetch_customer = broken
    with pytest.raises(RuntimeError):
        drain_inbox(desk, seal_key(kit.hasher))
    assert (kit.count("erasure_requests"), inbox_size(kit.db)) == (1, 1)
    filed = drain_inbox(kit.desk(), seal_key(kit.hasher))
    assert [i.status for i in filed] == ["filed"]
    assert (kit.count("erasure_requests"), inbox_size(kit.db)) == (2, 0)
    assert drain_inbox(kit.desk(), seal_key(kit.hasher)) == []
    assert kit.count("erasure_requests") == 2


def test_a_refused_request_leaves_the_inbox(kit: Kit) -> None:
    """A request that can never be filed (malformed email) is answered once, not retried."""
    _put(kit, IntakeItem(SubjectIds(email="not-an-email"), Origin.B2CONNECT))
    [intake] = drain_inbox(kit.desk(), seal_key(kit.hasher))
    assert intake.status == "rejected"
    assert inbox_size(kit.db) == 0
