"""Write batches of one flush in flight at once: the cursor commits only behind acknowledged
batches, whatever order they complete in, and nothing is lost or written twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.errors import Fatal
from connectors.records import Record, WriteItem, WriteResult
from connectors.testing import FakeConnector
from mapping.config import Config
from store import make_engine, upgrade
from store.models import RunStatus, Side
from sync import state
from sync.hashing import FieldHasher
from sync.push.engine import PipelineRun
from sync.retry import RetryPolicy
from sync.run import RunSummary
from tests.sync.conftest import customer
from tests.sync.test_engine import rows

C = TypeVar("C", bound=FakeConnector)

CHUNK = 4
#: a guard against a hang, never a measurement: a healthy turn comes in milliseconds
TURN_TIMEOUT_S = 20.0


class Turnstile(FakeConnector):
    """A CRM whose write batches complete in a chosen order (``rank``: lower first) and that
    checks, as each batch starts, that the committed cursor has not passed it yet."""

    def __init__(self, db: sa.Engine, flush: int, rank: dict[str, int], fail: str | None) -> None:
        super().__init__(write_chunk=CHUNK)
        self.db, self.flush, self.rank, self.fail = db, flush, rank, fail
        self.turn = threading.Condition()
        self.done: set[str] = set()
        self.violations: list[str] = []

    def write(self, stream: str, batch: Sequence[WriteItem], **options: Any) -> list[WriteResult]:
        first = batch[0].key
        start = (int(first[1:]) // self.flush) * self.flush  # the flush's first record
        with self.db.connect() as conn:
            cursor = state.get_cursor(conn, "customers", "customers", Side.B2CONNECT)
        if cursor and int(cursor["position"]) > start:
            self.violations.append(f"cursor {cursor['position']} passed the batch of {first}")
        mine = self.rank.get(first, -1)
        with self.turn:  # wait for the batches of this flush that rank before this one
            before = {k for k, r in self.rank.items() if r < mine and _flush_of(k, self) == start}
            if not self.turn.wait_for(lambda: before <= self.done, TURN_TIMEOUT_S):
                raise AssertionError(f"batch {first} never got its turn")
        try:
            if first == self.fail:
                raise Fatal("the CRM refused this batch for good")
            return super().write(stream, batch, **options)
        finally:
            with self.turn:
                self.done.add(first)
                self.turn.notify_all()


def _flush_of(key: str, crm: Turnstile) -> int:
    return (int(key[1:]) // crm.flush) * crm.flush


def _records(n: int) -> list[Record]:
    return [customer(f"c{i:04d}", f"p{i}@example.org") for i in range(n)]


def _run(
    config: Config, db: sa.Engine, shop: FakeConnector, crm: FakeConnector, flush: int, n: int
) -> PipelineRun:
    pipe = config.pipeline("customers").model_copy(update={"batch_size": flush})
    run = PipelineRun(
        pipeline=pipe, shop=shop, crm=crm, db=db, hasher=FieldHasher(b"k" * 32),
        tenant_id="t1", retry=RetryPolicy(attempts=2, initial=0.001, maximum=0.01),
        concurrency=max(2, -(-flush // CHUNK)),
    )  # fmt: skip
    run.execute()
    return run


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_cursor_never_passes_an_unacknowledged_batch(
    config: Config, tmp_path_factory: Any, data: st.DataObject
) -> None:
    """Under any completion order of a flush's batches, and a batch failing for good, the
    committed cursor stays behind every unacknowledged batch; the rerun writes each record
    exactly once."""
    n = data.draw(st.integers(8, 40), label="records")
    flush = data.draw(st.sampled_from([8, 12, 16]), label="flush")
    keys = [f"c{i:04d}" for i in range(0, n, CHUNK)]  # each batch's first key
    # every batch of a flush races, the first one too
    order = data.draw(st.permutations(keys), label="completion order")
    fail = data.draw(st.none() | st.sampled_from(keys), label="failing batch")
    db = make_engine(f"sqlite:///{Path(tmp_path_factory.mktemp('s'))}/state.db")
    upgrade(db)
    shop = FakeConnector(page_size=flush)
    shop.feed("customers", _records(n))
    crm = Turnstile(db, flush, {k: i for i, k in enumerate(order)}, fail)

    run = _run(config, db, shop, crm, flush, n)

    assert crm.violations == []
    with db.connect() as conn:
        cursor = state.get_cursor(conn, "customers", "customers", Side.B2CONNECT)
        links = state.load_links(conn, "customers", [f"c{i:04d}" for i in range(n)])
    position = int(cursor["position"]) if cursor else 0
    if fail is None:
        assert run.summary.status is RunStatus.SUCCEEDED and position == n
    else:
        assert run.summary.status is RunStatus.FAILED
        assert position <= _flush_of(fail, crm)
    assert all(f"c{i:04d}" in links for i in range(position)), "cursor ahead of the links"

    crm.fail = None  # the CRM takes the batch again: the rerun completes without duplicates
    again = _run(config, db, shop, crm, flush, n)
    assert again.summary.status is RunStatus.SUCCEEDED and crm.violations == []
    assert crm.count("contacts") == n
    assert len(set(crm.ids["contacts"].values())) == n
    db.dispose()


def test_batches_of_a_flush_are_in_flight_together(config: Config, db: sa.Engine) -> None:
    """With concurrency 4, all four batches of one flush are inside the CRM at once: the
    first one is not sent alone."""
    meet = threading.Barrier(4, timeout=TURN_TIMEOUT_S)

    class Meeting(FakeConnector):
        def write(self, stream: str, batch: Sequence[WriteItem], **kw: Any) -> list[WriteResult]:
            meet.wait()  # the first batch too: it waits for the other three
            return super().write(stream, batch, **kw)

    shop, crm = FakeConnector(page_size=16), Meeting(write_chunk=CHUNK)
    shop.feed("customers", _records(16))
    pipe = config.pipeline("customers").model_copy(update={"batch_size": 16})
    summary = PipelineRun(
        pipeline=pipe, shop=shop, crm=crm, db=db, hasher=FieldHasher(b"k" * 32),
        tenant_id="t1", concurrency=4,
    ).execute()  # fmt: skip
    assert summary.status is RunStatus.SUCCEEDED, summary.error
    assert summary.counts["created"] == 16 and not meet.broken
    assert crm.calls["POST /objects/contacts/batch/upsert"] == 4


def _sixteen_in_four_chunks(crm: C, config: Config, db: sa.Engine) -> tuple[RunSummary, C]:
    """16 customers in one batch of 16, written to ``crm`` in 4 chunks with 4 in flight and
    one retry per call."""
    shop = FakeConnector(page_size=16)
    shop.feed("customers", _records(16))
    pipe = config.pipeline("customers").model_copy(update={"batch_size": 16})
    summary = PipelineRun(
        pipeline=pipe, shop=shop, crm=crm, db=db, hasher=FieldHasher(b"k" * 32), tenant_id="t1",
        retry=RetryPolicy(attempts=2, initial=0.001, maximum=0.01), concurrency=4,
    ).execute()  # fmt: skip
    return summary, crm


def test_transient_failure_of_a_later_batch_resends_only_that_batch(
    config: Config, db: sa.Engine
) -> None:
    """A later batch whose call fails transiently through all its retries comes back as
    retriable failures of its records: the writer re-sends that batch alone, nothing else."""
    from connectors.errors import Retriable

    sent: Counter[str] = Counter()

    class Flaky(FakeConnector):
        def write(self, stream: str, batch: Sequence[WriteItem], **kw: Any) -> list[WriteResult]:
            sent[batch[0].key] += 1
            if batch[0].key == "c0008" and sent["c0008"] <= 2:  # both retries of the call
                raise Retriable("503 from the CRM", code="SERVER_ERROR")
            return super().write(stream, batch, **kw)

    summary, crm = _sixteen_in_four_chunks(Flaky(write_chunk=CHUNK), config, db)
    assert summary.status is RunStatus.SUCCEEDED, summary.error
    assert summary.counts["created"] == 16 and crm.count("contacts") == 16
    assert sent == {"c0000": 1, "c0004": 1, "c0008": 3, "c0012": 1}
    assert rows(db, "dead_letters") == []


def test_the_next_page_is_read_while_this_one_is_written(config: Config, db: sa.Engine) -> None:
    """With concurrency above 1 the second B2Connect page is asked for before the first
    page's write returns (one page of read-ahead); the cursor still ends at the end."""
    asked = threading.Event()

    class Shop(FakeConnector):
        def read_changes(self, stream: str, cursor: Any) -> Any:
            for number, page in enumerate(super().read_changes(stream, cursor)):
                if number == 1:
                    asked.set()
                yield page

    class Crm(FakeConnector):
        def write(self, stream: str, batch: Sequence[WriteItem], **kw: Any) -> list[WriteResult]:
            if batch[0].key == "c0000":  # the first page's write waits for the read-ahead
                assert asked.wait(TURN_TIMEOUT_S), "the next page was not read ahead"
            return super().write(stream, batch, **kw)

    shop, crm = Shop(page_size=4), Crm()
    shop.feed("customers", _records(12))
    pipe = config.pipeline("customers").model_copy(update={"batch_size": 4})
    summary = PipelineRun(
        pipeline=pipe, shop=shop, crm=crm, db=db, hasher=FieldHasher(b"k" * 32),
        tenant_id="t1", concurrency=2,
    ).execute()  # fmt: skip
    assert summary.status is RunStatus.SUCCEEDED, summary.error
    assert summary.counts["created"] == 12 and shop.calls["GET /feed/customers"] == 3
    with db.connect() as conn:
        cursor = state.get_cursor(conn, "customers", "customers", Side.B2CONNECT)
    assert cursor == {"position": 12}


def test_an_orders_associations_and_its_lines_are_in_flight_together(
    config: Config, db: sa.Engine
) -> None:
    """The orders' associations to their contacts and the orders' lines depend on the written
    orders only: at concurrency 2 the association call and the lines' write are inside the CRM
    at once (each waits for the other), and everything is written and linked once."""
    from tests.sync.conftest import order

    meet = threading.Barrier(2, timeout=TURN_TIMEOUT_S)

    class Meeting(FakeConnector):
        def write(self, stream: str, batch: Sequence[WriteItem], **kw: Any) -> list[WriteResult]:
            if stream == "line_items":
                meet.wait()
            return super().write(stream, batch, **kw)

        def associate(
            self, from_object: str, to_object: str, pairs: Sequence[tuple[str, str]], type_id: int
        ) -> list[WriteResult]:
            if to_object == "contacts":
                meet.wait()
            return super().associate(from_object, to_object, pairs, type_id)

    shop, crm = FakeConnector(), Meeting()
    shop.feed("customers", _records(2))
    shop.feed("orders", [order("o1", "c0000", lines=3), order("o2", "c0001")])
    runs = [
        PipelineRun(
            pipeline=config.pipeline(name), shop=shop, crm=crm, db=db,
            hasher=FieldHasher(b"k" * 32), tenant_id="t1", concurrency=2,
        ).execute()
        for name in ("customers", "orders")
    ]  # fmt: skip
    assert [s.status for s in runs] == [RunStatus.SUCCEEDED] * 2, [s.error for s in runs]
    assert not meet.broken
    orders = runs[1]
    assert orders.counts["associated"] == 2 and orders.counts["lines_written"] == 5
    assert crm.calls["POST /associations/orders/contacts/batch/create"] == 1
    assert len(rows(db, "links")) == 2 + 2 + 5


def test_a_crm_that_refuses_every_batch_fails_the_flush_as_a_serial_write_does(
    config: Config, db: sa.Engine
) -> None:
    """All batches go out at once; when every one fails transiently through its retries
    (nothing acknowledged: the CRM is down) the flush fails with that error, as one batch at
    a time fails on the first: no dead letters, no links, the cursor stays where it was."""
    from connectors.errors import Retriable

    class Down(FakeConnector):
        def write(self, stream: str, batch: Sequence[WriteItem], **kw: Any) -> list[WriteResult]:
            self.calls["refused"] += 1
            raise Retriable("503 from the CRM", code="SERVER_ERROR")

    summary, crm = _sixteen_in_four_chunks(Down(write_chunk=CHUNK), config, db)
    assert summary.status is not RunStatus.SUCCEEDED
    assert "503" in (summary.error or "")
    assert crm.calls["refused"] == 4 * 2  # each batch once, and once again by its retry
    assert rows(db, "dead_letters") == [] and rows(db, "links") == []
    with db.connect() as conn:
        assert state.get_cursor(conn, "customers", "customers", Side.B2CONNECT) is None
