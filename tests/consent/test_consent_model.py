"""The consent rule: newest decision wins, an opt-out never loses to an older-or-equal opt-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from consent.model import ConsentStatus, Decision, normalise_email, prevails, resolve

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SYSTEMS = st.sampled_from(["b2connect", "hubspot", "salesforce"])
MOMENTS = st.integers(min_value=0, max_value=10_000).map(lambda s: T0 + timedelta(seconds=s))
STATUSES = st.sampled_from(list(ConsentStatus))


def decision(status: ConsentStatus, at: datetime, source: str = "b2connect") -> Decision:
    return Decision("email", "marketing", status, at, source)


decisions = st.builds(decision, STATUSES, MOMENTS, SYSTEMS)


@given(MOMENTS, st.integers(min_value=0, max_value=10_000), SYSTEMS, SYSTEMS)
def test_opt_out_never_loses_to_an_older_or_equal_opt_in(
    out_at: datetime, earlier_by: int, out_source: str, in_source: str
) -> None:
    """An opt-in at or before an opt-out never replaces it, in either order."""
    opt_out = decision(ConsentStatus.WITHDRAWN, out_at, out_source)
    opt_in = decision(ConsentStatus.GRANTED, out_at - timedelta(seconds=earlier_by), in_source)
    assert not prevails(opt_in, opt_out)
    assert prevails(opt_out, opt_in)
    assert resolve([opt_in, opt_out]) == opt_out
    assert resolve([opt_out, opt_in]) == opt_out


@given(st.lists(decisions, min_size=1, max_size=8), st.randoms())
def test_resolve_does_not_depend_on_order(items: list[Decision], rnd: object) -> None:
    """Shuffling the decisions never changes which status stands, nor its time."""
    first = resolve(items)
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    again = resolve(shuffled)
    assert first is not None and again is not None
    assert (first.status, first.decided_at) == (again.status, again.decided_at)


@given(st.lists(decisions, min_size=1, max_size=8))
def test_folding_with_prevails_agrees_with_resolve(items: list[Decision]) -> None:
    """Applying decisions one by one with ``prevails`` ends where ``resolve`` does."""
    current: Decision | None = None
    for item in items:
        if prevails(item, current):
            current = item
    best = resolve(items)
    assert current is not None and best is not None
    assert (current.status, current.decided_at) == (best.status, best.decided_at)


@given(st.lists(decisions, min_size=1, max_size=8))
def test_a_withdrawal_at_the_latest_moment_always_stands(items: list[Decision]) -> None:
    """If some opt-out is at least as new as every known decision, the result is opt-out."""
    latest = max(d.decided_at for d in items)
    items = [*items, decision(ConsentStatus.WITHDRAWN, latest, "hubspot")]
    best = resolve(items)
    assert best is not None and best.status is ConsentStatus.WITHDRAWN


def test_a_newer_opt_in_resubscribes() -> None:
    """A later opt-in replaces an earlier opt-out (the person changed their mind)."""
    opt_out = decision(ConsentStatus.WITHDRAWN, T0)
    opt_in = decision(ConsentStatus.GRANTED, T0 + timedelta(seconds=1))
    assert prevails(opt_in, opt_out)


def test_unknown_never_replaces_a_decision() -> None:
    """``unknown`` is no decision: even a newer one leaves the standing decision."""
    granted = decision(ConsentStatus.GRANTED, T0)
    unknown = decision(ConsentStatus.UNKNOWN, T0 + timedelta(days=1))
    assert not prevails(unknown, granted)
    assert resolve([granted, unknown]) == granted


def test_anything_known_replaces_unknown() -> None:
    """A decision replaces an ``unknown`` even when it is older."""
    unknown = decision(ConsentStatus.UNKNOWN, T0 + timedelta(days=1))
    granted = decision(ConsentStatus.GRANTED, T0)
    assert prevails(granted, unknown)


def test_resolve_of_nothing_is_none() -> None:
    """No decisions, no standing decision."""
    assert resolve([]) is None


def test_emails_are_hashed_trimmed_and_lower_cased() -> None:
    """Case and surrounding spaces do not make a different person."""
    assert normalise_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
