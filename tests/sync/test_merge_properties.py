"""Properties of the three-way merge: deterministic, no ping-pong, directions and rules hold."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.config import Direction, Rule
from mapping.transforms import is_blank
from sync.hashing import FieldHasher
from sync.merge import Decision, Side, merge_field, merge_record

SETTINGS = settings(max_examples=300, deadline=None)
HASHER = FieldHasher(b"merge-property-key-0123456789")
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
WROTE_AT = T0 + timedelta(hours=1)
PLUS_5 = timezone(timedelta(hours=5))
FIELDS = ("city", "email", "phone", "zip")
VALUES: list[Any] = [None, "", "  ", "a@example.com", "b@example.com", "c@example.com", 1, 1.0, 2]

values = st.sampled_from(VALUES)
times = st.none() | st.sampled_from([T0, T0 + timedelta(minutes=1), T0.replace(tzinfo=None)])
rules = st.sampled_from(list(Rule))
directions = st.sampled_from(list(Direction))


def h(value: Any, field: str = "email") -> str:
    return HASHER.value(field, value)


@st.composite
def sides(draw: st.DrawFn, field: str = "email") -> Side:
    value = draw(values)
    return Side(value, h(value, field), draw(times))


@st.composite
def lasts(draw: st.DrawFn, field: str = "email") -> str | None:
    if draw(st.booleans()):
        return None  # first sync
    return h(draw(values), field)


@st.composite
def states(draw: st.DrawFn) -> tuple[Rule, Direction, str | None, Side, Side]:
    return draw(rules), draw(directions), draw(lasts()), draw(sides()), draw(sides())


def merge(state: tuple[Rule, Direction, str | None, Side, Side]) -> Decision:
    rule, direction, last, b2c, crm = state
    return merge_field("email", rule, direction, last, b2c, crm)


def apply(
    decision: Decision, state: tuple[Rule, Direction, str | None, Side, Side]
) -> tuple[Rule, Direction, str | None, Side, Side]:
    """Carry a decision out the way the engine does: write, then store the decision's hash."""
    rule, direction, _, b2c, crm = state
    if decision.action == "to_crm":
        crm = Side(decision.value, b2c.hash, WROTE_AT)
    elif decision.action == "to_b2connect":
        b2c = Side(decision.value, crm.hash, WROTE_AT)
    return rule, direction, decision.hash, b2c, crm


@SETTINGS
@given(states())
def test_merge_is_deterministic(state: tuple[Rule, Direction, str | None, Side, Side]) -> None:
    """The same inputs always give the same decision."""
    assert merge(state) == merge(state)


@SETTINGS
@given(states())
def test_applied_decision_remerges_to_nothing(
    state: tuple[Rule, Direction, str | None, Side, Side],
) -> None:
    """After carrying a decision out, the next merges write nothing: no ping-pong, ever."""
    decision = merge(state)
    settled = apply(decision, state)
    again = merge(settled)
    assert not again.writes
    if decision.action == "conflict":
        assert again == decision  # parked for a person, found again, still no write
    else:
        assert again.action == "none"
    assert merge(apply(again, settled)) == again


@SETTINGS
@given(states())
def test_unchanged_side_never_overwrites_the_other(
    state: tuple[Rule, Direction, str | None, Side, Side],
) -> None:
    """A side whose hash still equals the last-synced hash never wins a write."""
    _, _, last, b2c, crm = state
    decision = merge(state)
    if last is not None and b2c.hash == last:
        assert decision.action != "to_crm"
    if last is not None and crm.hash == last:
        assert decision.action != "to_b2connect"


@SETTINGS
@given(rules, directions, sides(), sides())
def test_first_sync_never_writes_a_blank_over_a_value(
    rule: Rule, direction: Direction, b2c: Side, crm: Side
) -> None:
    """No last-synced hash yet: whatever the rule and times, a blank never replaces a value."""
    decision = merge_field("email", rule, direction, None, b2c, crm)
    if decision.action == "to_crm":
        assert not is_blank(b2c.value) or is_blank(crm.value)
    if decision.action == "to_b2connect":
        assert not is_blank(crm.value) or is_blank(b2c.value)


@SETTINGS
@given(states())
def test_direction_vetoes_writes(state: tuple[Rule, Direction, str | None, Side, Side]) -> None:
    """``push`` never writes to B2Connect; ``pull`` never writes to the CRM."""
    action = merge(state).action
    if state[1] is Direction.push:
        assert action != "to_b2connect"
    if state[1] is Direction.pull:
        assert action != "to_crm"


@SETTINGS
@given(states())
def test_owner_rules_never_write_to_the_owner(
    state: tuple[Rule, Direction, str | None, Side, Side],
) -> None:
    """``b2connect_only`` never writes to B2Connect; ``crm_only`` never to the CRM."""
    action = merge(state).action
    if state[0] is Rule.b2connect_only:
        assert action != "to_b2connect"
    if state[0] is Rule.crm_only:
        assert action != "to_crm"


@SETTINGS
@given(states())
def test_writes_carry_the_winning_value_and_its_hash(
    state: tuple[Rule, Direction, str | None, Side, Side],
) -> None:
    """A write sends the winner's value and stores the winner's hash; others send nothing."""
    _, _, last, b2c, crm = state
    decision = merge(state)
    if decision.action == "to_crm":
        assert (decision.value, decision.hash) == (b2c.value, b2c.hash)
    elif decision.action == "to_b2connect":
        assert (decision.value, decision.hash) == (crm.value, crm.hash)
    else:
        assert decision.value is None
        assert decision.hash in {last, b2c.hash if b2c.hash == crm.hash else last}


@SETTINGS
@given(states())
def test_equal_hashes_never_write_and_conflicts_only_under_manual(
    state: tuple[Rule, Direction, str | None, Side, Side],
) -> None:
    """Equal hashes on both sides mean nothing to do; only ``manual`` parks a conflict."""
    decision = merge(state)
    if state[3].hash == state[4].hash:
        assert decision.action == "none" and decision.hash == state[3].hash
    if decision.action == "conflict":
        assert state[0] is Rule.manual


@SETTINGS
@given(
    rules,
    directions,
    st.lists(st.tuples(st.sampled_from(["b2c", "crm", "sync"]), values, times), max_size=12),
)
def test_any_edit_history_settles_after_one_writing_cycle(
    rule: Rule, direction: Direction, steps: list[tuple[str, Any, datetime | None]]
) -> None:
    """Whatever edits and syncs came before, one cycle after the last edit settles the field."""
    state: tuple[Rule, Direction, str | None, Side, Side] = (
        rule,
        direction,
        None,
        Side(None, h(None), None),
        Side(None, h(None), None),
    )
    for where, value, at in steps:
        edited = Side(value, h(value), at)
        if where == "b2c":
            state = (*state[:3], edited, state[4])
        elif where == "crm":
            state = (*state[:4], edited)
        else:
            state = apply(merge(state), state)
    state = apply(merge(state), state)
    assert not merge(state).writes
    assert merge(apply(merge(state), state)) == merge(state)


@st.composite
def records(
    draw: st.DrawFn,
) -> tuple[dict[str, tuple[Rule, Direction]], dict[str, str], dict[str, Side], dict[str, Side]]:
    names = draw(st.lists(st.sampled_from(FIELDS), unique=True, min_size=1))
    fields = {name: (draw(rules), draw(directions)) for name in names}
    last = {name: digest for name in names if (digest := draw(lasts(name))) is not None}
    b2c = {name: draw(sides(name)) for name in names if draw(st.integers(0, 9))}
    crm = {name: draw(sides(name)) for name in names if draw(st.integers(0, 9))}
    return fields, last, b2c, crm


def reorder(mapping: dict[str, Any], order: list[str]) -> dict[str, Any]:
    return {name: mapping[name] for name in order if name in mapping}


@SETTINGS
@given(records(), st.randoms(use_true_random=False))
def test_record_merge_does_not_depend_on_field_order(
    record: tuple[
        dict[str, tuple[Rule, Direction]], dict[str, str], dict[str, Side], dict[str, Side]
    ],
    rnd: random.Random,
) -> None:
    """Shuffling the order of fields, hashes or sides changes nothing in the result."""
    fields, last, b2c, crm = record
    order = list(FIELDS)
    rnd.shuffle(order)
    shuffled = merge_record(
        reorder(fields, order), reorder(last, order), reorder(b2c, order), reorder(crm, order)
    )
    assert shuffled == merge_record(fields, last, b2c, crm)
    assert [d.field for d in shuffled] == sorted(fields)


@SETTINGS
@given(states())
def test_time_zone_of_changed_at_does_not_matter(
    state: tuple[Rule, Direction, str | None, Side, Side],
) -> None:
    """The same instants written in another offset give the same decision."""
    rule, direction, last, b2c, crm = state

    def shift(side: Side) -> Side:
        at = side.changed_at
        if at is None:
            return side
        aware = at if at.tzinfo else at.replace(tzinfo=UTC)
        return replace(side, changed_at=aware.astimezone(UTC).astimezone(PLUS_5))

    assert merge((rule, direction, last, shift(b2c), shift(crm))) == merge(state)


def test_no_ping_pong_over_every_small_state() -> None:
    """Exhaustively over blank/two values × times × rules × directions: one cycle settles."""
    small = [None, "a@example.com", "b@example.com"]
    at = [None, T0, T0 + timedelta(minutes=1)]
    all_sides = [Side(v, h(v), t) for v in small for t in at]
    all_lasts = [None, *(h(v) for v in small)]
    for state in itertools.product(Rule, Direction, all_lasts, all_sides, all_sides):
        decision = merge(state)
        assert not merge(apply(decision, state)).writes, (state, decision)
