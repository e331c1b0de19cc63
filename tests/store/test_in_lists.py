"""SQLite ``IN`` lists go out in a few sizes, so each connection prepares few statements.

Every list length was a different SQL text, and Python's ``sqlite3`` keeps 128 prepared
statements per pooled connection, each holding memory for its every ``?``: over a long
backfill the caches filled with large one-off lookups and the process kept growing with the
shop (``store.pad_in_lists``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import make_engine, pad_in_lists, padded_size
from sync import state

NOW = datetime(2026, 12, 7, tzinfo=UTC)
KEYS = 700


@contextmanager
def _statements(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL texts the engine's cursor runs meanwhile."""
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(engine, "after_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "after_cursor_execute", record)


def _linked(engine: sa.Engine) -> None:
    rows = [(str(i), f"crm-{i}", {"email": "h"}, "r") for i in range(KEYS)]
    with engine.begin() as conn:
        state.upsert_links(
            conn, pipeline="p", tenant_id="t", crm_object="contacts", rows=rows, now=NOW
        )


def test_lookups_of_every_length_prepare_a_few_statements(sqlite_store_engine: sa.Engine) -> None:
    """The engine's link lookup, with every list length a run meets: about ten SQL texts
    (one per power of two), not one per length; every answer still exact."""
    _linked(sqlite_store_engine)
    with _statements(sqlite_store_engine) as seen, sqlite_store_engine.connect() as conn:
        for n in range(1, 601):
            keys = [str(i * 7 % 1000) for i in range(n)]  # some not linked (700 and above)
            links = state.load_links(conn, "p", keys)
            assert set(links) == {k for k in keys if int(k) < KEYS}, n
            assert all(links[k].crm_id == f"crm-{k}" for k in links)
    lookups = {s for s in seen if "FROM links" in s}
    assert len(lookups) <= 11, f"{len(lookups)} different lookup statements for 600 lengths"


def _plain(path: Path) -> sa.Engine:
    """An engine on the same file without b2sync's hooks: the unpadded reference."""
    return sa.create_engine(f"sqlite:///{path}")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    inside=st.lists(st.integers(0, 40), min_size=1, max_size=70),
    outside=st.lists(st.integers(0, 40), min_size=1, max_size=20),
    low=st.integers(0, 40),
)
def test_padding_never_changes_an_answer(
    tmp_path_factory: pytest.TempPathFactory, inside: list[int], outside: list[int], low: int
) -> None:
    """IN, NOT IN, two lists and a parameter between and after them: the padded statement
    returns exactly the rows the unpadded one does."""
    path = tmp_path_factory.mktemp("pad") / "x.db"
    padded = make_engine(f"sqlite:///{path}")
    meta = sa.MetaData()
    table = sa.Table(
        "t", meta, sa.Column("k", sa.Integer, primary_key=True), sa.Column("v", sa.String)
    )
    meta.create_all(padded)
    with padded.begin() as conn:
        conn.execute(table.insert(), [{"k": i, "v": f"v{i % 3}"} for i in range(41)])
    query = (
        sa.select(table.c.k)
        .where(
            table.c.k.in_(inside), table.c.v != "v2", table.c.k.notin_(outside), table.c.k >= low
        )
        .order_by(table.c.k)
    )
    plain = _plain(path)
    try:
        with padded.connect() as a, plain.connect() as b:
            assert a.execute(query).scalars().all() == b.execute(query).scalars().all()
    finally:
        plain.dispose()
        padded.dispose()


def test_a_statement_padding_could_misread_is_left_as_it_is() -> None:
    """A quote (a literal might hold a ``?``), a ``?`` count that does not match the
    parameters, and ``executemany`` go out unchanged; a list already at a power of two too."""
    quoted = "SELECT a FROM t WHERE b = '?' AND a IN (?, ?, ?)"
    assert pad_in_lists(None, None, quoted, (1, 2, 3), None, False) == (quoted, (1, 2, 3))
    odd = "SELECT a FROM t WHERE a IN (?, ?, ?)"
    assert pad_in_lists(None, None, odd, (1, 2), None, False) == (odd, (1, 2))
    assert pad_in_lists(None, None, odd, [(1, 2, 3)], None, True) == (odd, [(1, 2, 3)])
    four = "SELECT a FROM t WHERE a IN (?, ?, ?, ?)"
    assert pad_in_lists(None, None, four, (1, 2, 3, 4), None, False) == (four, (1, 2, 3, 4))
    statement, params = pad_in_lists(None, None, odd, (1, 2, 3), None, False)
    assert (statement, params) == ("SELECT a FROM t WHERE a IN (?, ?, ?, ?)", (1, 2, 3, 3))


def test_padded_sizes_are_powers_of_two() -> None:
    assert [padded_size(n) for n in (1, 2, 3, 4, 5, 500, 512, 513)] == [
        1,
        2,
        4,
        4,
        8,
        512,
        512,
        1024,
    ]
