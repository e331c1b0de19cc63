"""The process-wide count of records held by push runs (sync.push.in_hand)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.push.in_hand import (
    DEFAULT_RECORDS_IN_MEMORY,
    ENV,
    InHand,
    RecordsInMemoryError,
    records_in_memory,
)


@given(
    bound=st.integers(1, 50),
    pages=st.lists(st.integers(0, 20), max_size=30),
)
def test_over_the_bound_exactly_when_more_than_the_bound_is_held(
    bound: int, pages: list[int]
) -> None:
    """``take`` says "over" exactly when the total held passes the bound; the peak and the
    drains follow; giving everything back leaves nothing held."""
    hand = InHand(bound)
    held = 0
    overs = 0
    for n in pages:
        held += n
        over = hand.take(n)
        assert over == (held > bound)
        overs += over
    assert hand.held == held
    assert hand.peak == held  # only taken so far: the peak is the total
    assert hand.drains == hand.drains_total == overs
    hand.give_back(held)
    assert hand.held == 0
    hand.reset_peak()
    assert hand.peak == 0 and hand.drains == 0 and hand.drains_total == overs


def test_runs_on_many_threads_net_to_nothing() -> None:
    """Takes and gives from eight threads at once: the count ends at zero."""
    hand = InHand(100)

    def churn() -> None:
        for _ in range(2_000):
            hand.take(3)
            hand.give_back(3)

    threads = [threading.Thread(target=churn) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert hand.held == 0
    assert 3 <= hand.peak <= 24


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", DEFAULT_RECORDS_IN_MEMORY), ("  ", DEFAULT_RECORDS_IN_MEMORY), ("5000", 5000),
     ("50_000", 50_000), (" 1 ", 1)],
)  # fmt: skip
def test_the_bound_from_the_environment(raw: str, expected: int) -> None:
    assert records_in_memory({ENV: raw}) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "2.5", "1e4", "lots", "16,000"])
def test_a_bound_that_is_not_a_positive_whole_number_is_refused(raw: str) -> None:
    with pytest.raises(RecordsInMemoryError, match=rf"{ENV}='{raw}' is not a positive whole"):
        records_in_memory({ENV: raw})
