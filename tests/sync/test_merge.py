"""The per-field three-way merge: a case table per rule, hashes to store, echoes, records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple

import pytest

from mapping.config import Direction, Rule
from sync.hashing import FieldHasher
from sync.merge import (
    Decision,
    Side,
    is_echo,
    is_echo_record,
    merge_field,
    merge_record,
    next_hashes,
)

HASHER = FieldHasher(b"merge-test-key-0123456789")
FIELD = "email"
T1 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
T2 = T1 + timedelta(minutes=5)
OLD, B, C = "old@example.com", "shop@example.com", "crm@example.com"
FIRST = object()  # stands for "no last-synced hash yet"


def h(value: Any, field: str = FIELD) -> str:
    return HASHER.value(field, value)


def side(value: Any, at: datetime | None = None, field: str = FIELD) -> Side:
    return Side(value, h(value, field), at)


class Case(NamedTuple):
    """One row: rule, direction, last-synced value (FIRST: none yet), both sides, outcome."""

    rule: Rule
    last: Any
    b2c: tuple[Any, datetime | None]
    crm: tuple[Any, datetime | None]
    action: str
    value: Any = None
    direction: Direction = Direction.both


R = Rule
TABLE: dict[str, Case] = {
    # two_way: the side that changed wins; both changed → newest, ties → B2Connect
    "two_way/neither": Case(R.two_way, OLD, (OLD, T1), (OLD, T2), "none"),
    "two_way/b2c": Case(R.two_way, OLD, (B, T1), (OLD, T2), "to_crm", B),
    "two_way/crm": Case(R.two_way, OLD, (OLD, T2), (C, T1), "to_b2connect", C),
    "two_way/both-b2c-newer": Case(R.two_way, OLD, (B, T2), (C, T1), "to_crm", B),
    "two_way/both-crm-newer": Case(R.two_way, OLD, (B, T1), (C, T2), "to_b2connect", C),
    "two_way/both-tie": Case(R.two_way, OLD, (B, T1), (C, T1), "to_crm", B),
    "two_way/both-no-times": Case(R.two_way, OLD, (B, None), (C, None), "to_crm", B),
    "two_way/both-only-crm-time": Case(R.two_way, OLD, (B, None), (C, T1), "to_b2connect", C),
    "two_way/both-only-b2c-time": Case(R.two_way, OLD, (B, T1), (C, None), "to_crm", B),
    "two_way/both-same-value": Case(R.two_way, OLD, (B, T1), (B, T2), "none"),
    "two_way/b2c-blanked": Case(R.two_way, OLD, ("", T1), (OLD, T1), "to_crm", ""),
    "two_way/first-equal": Case(R.two_way, FIRST, (B, T1), (B, T2), "none"),
    "two_way/first-crm-newer": Case(R.two_way, FIRST, (B, T1), (C, T2), "to_b2connect", C),
    "two_way/first-b2c-newer": Case(R.two_way, FIRST, (B, T2), (C, T1), "to_crm", B),
    # prefer_*: the changed side wins; both changed → the preferred side, whatever the times
    "prefer_b2connect/b2c": Case(R.prefer_b2connect, OLD, (B, T1), (OLD, T1), "to_crm", B),
    "prefer_b2connect/crm": Case(R.prefer_b2connect, OLD, (OLD, T1), (C, T1), "to_b2connect", C),
    "prefer_b2connect/both": Case(R.prefer_b2connect, OLD, (B, T1), (C, T2), "to_crm", B),
    "prefer_b2connect/both-b2c-blank": Case(
        R.prefer_b2connect, OLD, (None, T1), (C, T2), "to_crm", None
    ),
    "prefer_b2connect/first": Case(R.prefer_b2connect, FIRST, (B, T1), (C, T2), "to_crm", B),
    "prefer_crm/b2c": Case(R.prefer_crm, OLD, (B, T1), (OLD, T1), "to_crm", B),
    "prefer_crm/crm": Case(R.prefer_crm, OLD, (OLD, T1), (C, T1), "to_b2connect", C),
    "prefer_crm/both": Case(R.prefer_crm, OLD, (B, T2), (C, T1), "to_b2connect", C),
    "prefer_crm/both-crm-blank": Case(R.prefer_crm, OLD, (B, T2), ("", T1), "to_b2connect", ""),
    "prefer_crm/first": Case(R.prefer_crm, FIRST, (B, T2), (C, T1), "to_b2connect", C),
    # prefer_*_unless_blank: a blank on the preferred side yields to the other side
    "prefer_b2c_ub/both": Case(R.prefer_b2connect_unless_blank, OLD, (B, T1), (C, T2), "to_crm", B),
    "prefer_b2c_ub/both-b2c-blank": Case(
        R.prefer_b2connect_unless_blank, OLD, ("  ", T2), (C, T1), "to_b2connect", C
    ),
    "prefer_b2c_ub/both-both-blank": Case(
        R.prefer_b2connect_unless_blank, OLD, ("  ", T1), (None, T2), "to_crm", "  "
    ),
    "prefer_b2c_ub/b2c": Case(
        R.prefer_b2connect_unless_blank, OLD, (B, T1), (OLD, T1), "to_crm", B
    ),
    "prefer_b2c_ub/b2c-blanked": Case(
        R.prefer_b2connect_unless_blank, OLD, (None, T2), (OLD, T1), "none"
    ),
    "prefer_b2c_ub/crm": Case(
        R.prefer_b2connect_unless_blank, OLD, (OLD, T1), (C, T2), "to_b2connect", C
    ),
    "prefer_b2c_ub/crm-blanked": Case(
        R.prefer_b2connect_unless_blank, OLD, (OLD, T1), ("", T2), "to_b2connect", ""
    ),
    "prefer_b2c_ub/first-b2c-blank": Case(
        R.prefer_b2connect_unless_blank, FIRST, (None, T2), (C, T1), "to_b2connect", C
    ),
    "prefer_crm_ub/both": Case(R.prefer_crm_unless_blank, OLD, (B, T2), (C, T1), "to_b2connect", C),
    "prefer_crm_ub/both-crm-blank": Case(
        R.prefer_crm_unless_blank, OLD, (B, T1), ("", T2), "to_crm", B
    ),
    "prefer_crm_ub/crm-blanked": Case(
        R.prefer_crm_unless_blank, OLD, (OLD, T1), (None, T2), "none"
    ),
    "prefer_crm_ub/b2c-blanked": Case(
        R.prefer_crm_unless_blank, OLD, ("", T2), (OLD, T1), "to_crm", ""
    ),
    "prefer_crm_ub/first-crm-blank": Case(
        R.prefer_crm_unless_blank, FIRST, (B, T1), (None, T2), "to_crm", B
    ),
    # first sync: a blank never overwrites a value, whatever the rule or the times say
    "first-blank/two_way-crm-newer": Case(R.two_way, FIRST, (B, T1), (None, T2), "to_crm", B),
    "first-blank/two_way-b2c-newer": Case(R.two_way, FIRST, ("", T2), (C, T1), "to_b2connect", C),
    "first-blank/prefer_crm": Case(R.prefer_crm, FIRST, (B, T1), ("  ", T2), "to_crm", B),
    "first-blank/prefer_b2connect": Case(
        R.prefer_b2connect, FIRST, (None, T2), (C, T1), "to_b2connect", C
    ),
    "first-blank/b2connect_only": Case(R.b2connect_only, FIRST, (None, T2), (C, T1), "none"),
    "first-blank/crm_only": Case(R.crm_only, FIRST, (B, T1), (None, T2), "none"),
    "first-blank/crm_only-b2c-blank": Case(
        R.crm_only, FIRST, (None, T1), (C, T2), "to_b2connect", C
    ),
    "first-blank/manual": Case(R.manual, FIRST, (B, T1), (None, T2), "conflict"),
    "first-blank/pull-veto": Case(
        R.two_way, FIRST, (B, T1), (None, T2), "none", None, Direction.pull
    ),
    "later-blank/two_way-crm-cleared": Case(
        R.two_way, OLD, (OLD, T1), (None, T2), "to_b2connect", None
    ),
    # *_only: the owner's edits flow one way; the other side's edits are ignored
    "b2connect_only/b2c": Case(R.b2connect_only, OLD, (B, T1), (OLD, T1), "to_crm", B),
    "b2connect_only/crm": Case(R.b2connect_only, OLD, (OLD, T1), (C, T2), "none"),
    "b2connect_only/both": Case(R.b2connect_only, OLD, (B, T1), (C, T2), "to_crm", B),
    "b2connect_only/first": Case(R.b2connect_only, FIRST, (B, T1), (C, T2), "to_crm", B),
    "crm_only/crm": Case(R.crm_only, OLD, (OLD, T1), (C, T1), "to_b2connect", C),
    "crm_only/b2c": Case(R.crm_only, OLD, (B, T2), (OLD, T1), "none"),
    "crm_only/both": Case(R.crm_only, OLD, (B, T2), (C, T1), "to_b2connect", C),
    "crm_only/first": Case(R.crm_only, FIRST, (B, T2), (C, T1), "to_b2connect", C),
    # manual: one-sided edits flow; both changed (or differ at first sync) → a person decides
    "manual/b2c": Case(R.manual, OLD, (B, T1), (OLD, T1), "to_crm", B),
    "manual/crm": Case(R.manual, OLD, (OLD, T1), (C, T1), "to_b2connect", C),
    "manual/both": Case(R.manual, OLD, (B, T1), (C, T2), "conflict"),
    "manual/both-same": Case(R.manual, OLD, (B, T1), (B, T2), "none"),
    "manual/first": Case(R.manual, FIRST, (B, T1), (C, T2), "conflict"),
    "manual/first-equal": Case(R.manual, FIRST, (B, T1), (B, T2), "none"),
    # direction vetoes writes: push never writes to B2Connect, pull never to the CRM
    "push/b2c": Case(R.two_way, OLD, (B, T1), (OLD, T1), "to_crm", B, Direction.push),
    "push/crm": Case(R.two_way, OLD, (OLD, T1), (C, T2), "none", None, Direction.push),
    "push/both-crm-newer": Case(R.two_way, OLD, (B, T1), (C, T2), "none", None, Direction.push),
    "push/both-b2c-newer": Case(R.two_way, OLD, (B, T2), (C, T1), "to_crm", B, Direction.push),
    "push/crm_only": Case(R.crm_only, FIRST, (B, T1), (C, T2), "none", None, Direction.push),
    "pull/crm": Case(R.two_way, OLD, (OLD, T1), (C, T2), "to_b2connect", C, Direction.pull),
    "pull/b2c": Case(R.two_way, OLD, (B, T1), (OLD, T1), "none", None, Direction.pull),
    "pull/b2connect_only": Case(
        R.b2connect_only, OLD, (B, T1), (C, T1), "none", None, Direction.pull
    ),
    "pull/manual-both": Case(R.manual, OLD, (B, T1), (C, T1), "conflict", None, Direction.pull),
}


def run_case(case: Case) -> Decision:
    last = None if case.last is FIRST else h(case.last)
    return merge_field(FIELD, case.rule, case.direction, last, side(*case.b2c), side(*case.crm))


@pytest.mark.parametrize("name", sorted(TABLE))
def test_case_table(name: str) -> None:
    """Each rule × changed side × blank × timestamps row yields its action and value."""
    case = TABLE[name]
    decision = run_case(case)
    assert (decision.action, decision.value) == (case.action, case.value), decision.reason


@pytest.mark.parametrize("name", sorted(TABLE))
def test_reason_never_contains_a_value(name: str) -> None:
    """Reasons are short and free of the values (no personal data in logs or audit)."""
    case = TABLE[name]
    reason = run_case(case).reason
    assert reason and len(reason) < 80
    assert not any(v in reason for v in (OLD, B, C))


def test_write_records_hash_of_written_value() -> None:
    """A write stores the written value's hash as the new last-synced hash."""
    decision = merge_field(FIELD, Rule.two_way, Direction.both, h(OLD), side(OLD), side(C))
    assert decision.action == "to_b2connect" and decision.hash == h(C)


def test_convergent_edit_records_the_common_hash() -> None:
    """Both sides changed to the same value: nothing is written, the new hash is recorded."""
    decision = merge_field(FIELD, Rule.manual, Direction.both, h(OLD), side(B, T1), side(B, T2))
    assert decision == Decision(FIELD, "none", None, "convergent edit", h(B))


def test_hashes_equal_across_representations_are_in_sync() -> None:
    """Values that hash alike (1 and 1.0, None and '') are in sync, not a change."""
    decision = merge_field(
        "qty",
        Rule.two_way,
        Direction.both,
        h(1, "qty"),
        side(1.0, field="qty"),
        side(1, field="qty"),
    )
    assert decision.action == "none" and decision.reason == "in sync"


def test_ignored_edit_keeps_stored_hash() -> None:
    """An ignored one-sided edit leaves the stored hash alone, so it stays ignored."""
    decision = merge_field(FIELD, Rule.b2connect_only, Direction.both, h(OLD), side(OLD), side(C))
    assert decision.action == "none" and decision.hash == h(OLD)


def test_vetoed_first_sync_stores_no_hash() -> None:
    """A first-sync write vetoed by the direction records nothing yet."""
    decision = merge_field(FIELD, Rule.crm_only, Direction.push, None, side(B), side(C))
    assert decision.action == "none" and decision.hash is None
    assert "vetoed" in decision.reason


def test_conflict_keeps_stored_hash_and_repeats_until_resolved() -> None:
    """A manual conflict writes nothing, keeps the stored hash and is found again next run."""
    args = (FIELD, Rule.manual, Direction.both, h(OLD), side(B), side(C))
    first, again = merge_field(*args), merge_field(*args)
    assert first.action == "conflict" and first.hash == h(OLD) and first.value is None
    assert again == first


@pytest.mark.parametrize("take", ["b2connect", "crm"])
def test_resolved_conflict_settles(take: str) -> None:
    """Taking either side of a conflict and storing its hash makes the next merge a no-op."""
    chosen = B if take == "b2connect" else C
    decision = merge_field(
        FIELD, Rule.manual, Direction.both, h(chosen), side(chosen), side(chosen)
    )
    assert decision.action == "none" and decision.reason == "in sync"


def test_naive_and_aware_times_compare_as_utc() -> None:
    """A naive changed_at is taken as UTC; offsets are honoured."""
    naive_b2c = T1.replace(tzinfo=None)
    crm_at = T1.astimezone(timezone(timedelta(hours=2))) + timedelta(seconds=1)
    decision = merge_field(
        FIELD, Rule.two_way, Direction.both, h(OLD), side(B, naive_b2c), side(C, crm_at)
    )
    assert decision.action == "to_b2connect"


def test_custom_blank_predicate_is_used() -> None:
    """The caller's is_blank decides what counts as blank for *_unless_blank."""
    decision = merge_field(
        FIELD,
        Rule.prefer_b2connect_unless_blank,
        Direction.both,
        h(OLD),
        side("n/a", T2),
        side(C, T1),
        is_blank=lambda value: value in {None, "", "n/a"},
    )
    assert decision.action == "to_b2connect" and decision.value == C


def test_decision_writes_property() -> None:
    """Only to_crm and to_b2connect count as writes."""
    made = {a: Decision(FIELD, a, None, "r", None).writes for a in ("none", "conflict")}
    made |= {a: Decision(FIELD, a, 1, "r", "x").writes for a in ("to_crm", "to_b2connect")}
    assert made == {"none": False, "conflict": False, "to_crm": True, "to_b2connect": True}


# --------------------------------------------------------------------------- echoes


def test_echo_of_our_own_write_is_recognised() -> None:
    """The CRM returning exactly the value b2sync wrote is an echo."""
    assert is_echo(h(B), h(B))


def test_genuine_edit_after_our_write_is_not_an_echo() -> None:
    """An edit landing between our write and our read hashes differently: not an echo."""
    assert not is_echo(h(B), h(C))


def test_nothing_written_means_no_echo() -> None:
    """Without a stored hash nothing can be an echo."""
    assert not is_echo(None, h(B))


def test_record_is_echo_only_when_every_field_is() -> None:
    """A record is an echo only if all its observed field hashes equal what we wrote."""
    written = {"email": h(B), "phone": h("+4930123", "phone")}
    assert is_echo_record(written, {"email": h(B)})
    assert is_echo_record(written, written)
    assert not is_echo_record(written, {**written, "phone": h("+4930999", "phone")})
    assert not is_echo_record(written, {"city": h("Berlin", "city")})


# --------------------------------------------------------------------------- records


def test_merge_record_sorts_by_field_and_uses_each_rule() -> None:
    """Decisions come in field-name order, each field with its own rule and direction."""
    fields = {
        "phone": (Rule.crm_only, Direction.both),
        "email": (Rule.two_way, Direction.both),
        "city": (Rule.two_way, Direction.push),
    }
    last = {"email": h(OLD), "phone": h("1", "phone"), "city": h("A", "city")}
    b2c = {"email": side(B), "phone": side("2", field="phone"), "city": side("A", field="city")}
    crm = {"email": side(OLD), "phone": side("1", field="phone"), "city": side("Z", field="city")}
    decisions = merge_record(fields, last, b2c, crm)
    assert [(d.field, d.action) for d in decisions] == [
        ("city", "none"),
        ("email", "to_crm"),
        ("phone", "none"),
    ]


def test_merge_record_leaves_fields_not_read_alone() -> None:
    """A field missing on one side is left as it is, keeping its stored hash."""
    fields = {"email": (Rule.two_way, Direction.both)}
    decisions = merge_record(fields, {"email": h(OLD)}, {"email": side(B)}, {})
    assert decisions == [Decision("email", "none", None, "not read on both sides", h(OLD))]


def test_merge_record_ignores_unconfigured_fields() -> None:
    """Values for fields that have no mapping produce no decision."""
    fields = {"email": (Rule.two_way, Direction.both)}
    decisions = merge_record(fields, {}, {"email": side(B), "x": side(1)}, {"email": side(B)})
    assert [d.field for d in decisions] == ["email"]


def test_next_hashes_applies_decisions_over_last() -> None:
    """The hashes to store: each decision's hash over the old ones, untouched fields kept."""
    decisions = [
        Decision("email", "to_crm", B, "b2connect changed", h(B)),
        Decision("phone", "none", None, "first sync: vetoed", None),
    ]
    stored = next_hashes({"email": h(OLD), "city": h("A", "city")}, decisions)
    assert stored == {"email": h(B), "city": h("A", "city")}
