"""Per-field three-way merge of B2Connect and CRM values, without keeping personal data.

The merge compares hashes, never stored values: ``last`` is the per-field hash kept in
``links.field_hashes`` for the value both sides last agreed on; a side has *changed* only when
its current hash differs from it. Both sides' hashes must come from the same
:meth:`sync.hashing.FieldHasher.value` call (same key, same field name, values already mapped
to the CRM's form), so equal values hash alike.

Decision table (after equal hashes, which are always ``none``):

* one side changed: it wins, except that ``b2connect_only`` ignores CRM edits, ``crm_only``
  ignores B2Connect edits, and ``prefer_X_unless_blank`` does not spread a blank from X over a
  non-blank value on the other side;
* first sync (no ``last``) with one side blank: a blank never overwrites a value, whatever
  the rule and the times say: the non-blank side wins, except that ``b2connect_only`` /
  ``crm_only`` keep their blank owner's side as it is (nothing is written) and ``manual``
  still parks the clash (a CRM property that is empty everywhere, a typo in the mapping,
  cannot blank a whole field of B2Connect);
* both changed, or first sync (no ``last``): ``two_way`` → newest ``changed_at`` (ties and
  unknown times → B2Connect); ``prefer_X`` and ``X_only`` → X; ``prefer_X_unless_blank`` → X
  unless X is blank and the other side is not; ``manual`` → conflict;
* the direction vetoes last: ``push`` never writes to B2Connect, ``pull`` never to the CRM
  (the vetoed write becomes ``none`` and the stored hash stays as it was).

Every decision carries the hash to store once it is carried out, so re-merging after a write
sees both sides equal to ``last`` and does nothing: no ping-pong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, assert_never

from mapping.config import Direction, Rule
from mapping.transforms import is_blank as default_is_blank

__all__ = [
    "Action",
    "Decision",
    "Side",
    "is_echo",
    "is_echo_record",
    "merge_field",
    "merge_record",
    "next_hashes",
]

Action = Literal["none", "to_crm", "to_b2connect", "conflict"]
_Pick = Literal["b2connect", "crm", "keep", "conflict"]
_B2C: Literal["b2connect"] = "b2connect"
_CRM: Literal["crm"] = "crm"


@dataclass(frozen=True)
class Side:
    """One side's current value of a field, its hash and when it last changed (if known)."""

    value: Any
    hash: str
    changed_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """What to do with one field.

    Attributes:
        field: The field name.
        action: ``none``, ``to_crm``, ``to_b2connect`` or ``conflict`` (park for a person).
        value: The value to write for ``to_*``; None otherwise.
        reason: A short reason, never containing a value.
        hash: The last-synced hash to store once the decision is carried out (for a write,
            the hash of the written value); None when there is none yet.
    """

    field: str
    action: Action
    value: Any
    reason: str
    hash: str | None

    @property
    def writes(self) -> bool:
        """True if the decision writes to one of the systems."""
        return self.action in {"to_crm", "to_b2connect"}


def is_echo(written_hash: str | None, observed_hash: str) -> bool:
    """True if an observed value is the echo of what b2sync itself last wrote.

    After writing a field, the engine stores the written value's hash as the field's
    last-synced hash. When a change feed (HubSpot search, Salesforce ``SystemModstamp``) then
    returns the record because *our* write touched it, the engine hashes the observed values
    and calls this with the stored hash: an echo costs nothing (no merge, no write, the cursor
    just moves on). A genuine edit made between our write and our read hashes differently, so
    it is not an echo and is merged as a change.
    """
    return written_hash is not None and written_hash == observed_hash


def is_echo_record(written: Mapping[str, str], observed: Mapping[str, str]) -> bool:
    """True if every observed field hash is the echo of what b2sync last wrote."""
    return all(is_echo(written.get(name), digest) for name, digest in observed.items())


def merge_field(
    field: str,
    rule: Rule,
    direction: Direction,
    last_hash: str | None,
    b2c: Side,
    crm: Side,
    *,
    is_blank: Callable[[Any], bool] = default_is_blank,
) -> Decision:
    """Decide one field from its last-synced hash and both sides' current values.

    Args:
        field: The field name (used in the decision only).
        rule: The field's conflict rule.
        direction: The field's effective direction (its own, else the pipeline's).
        last_hash: The hash stored in ``links.field_hashes``; None before the first sync.
        b2c: The B2Connect side.
        crm: The CRM side.
        is_blank: What counts as blank for the ``*_unless_blank`` rules.
    """
    if b2c.hash == crm.hash:
        if b2c.hash == last_hash:
            reason = "in sync"
        else:
            reason = "first sync: equal" if last_hash is None else "convergent edit"
        return Decision(field, "none", None, reason, b2c.hash)
    first = last_hash is None
    b2c_moved = first or b2c.hash != last_hash
    crm_moved = first or crm.hash != last_hash
    kept = _first_sync_blank(rule, b2c, crm, is_blank) if first else None
    if kept is not None:
        pick, reason = kept
    elif b2c_moved and crm_moved:
        pick, why = _both_changed(rule, b2c, crm, is_blank)
        reason = f"{'first sync' if first else 'both changed'}: {why}"
    elif b2c_moved:
        pick, reason = _one_changed(rule, _B2C, b2c, crm, is_blank)
    else:
        pick, reason = _one_changed(rule, _CRM, crm, b2c, is_blank)
    return _decide(field, pick, reason, direction, last_hash, b2c, crm)


def merge_record(
    fields: Mapping[str, tuple[Rule, Direction]],
    last: Mapping[str, str],
    b2c: Mapping[str, Side],
    crm: Mapping[str, Side],
    *,
    is_blank: Callable[[Any], bool] = default_is_blank,
) -> list[Decision]:
    """Merge every configured field of one linked record, in field-name order.

    Fields missing from either side (not read this time) are left alone; sides for fields
    that are not configured are ignored.
    """
    decisions: list[Decision] = []
    for name in sorted(fields):
        rule, direction = fields[name]
        left, right = b2c.get(name), crm.get(name)
        if left is None or right is None:
            decisions.append(Decision(name, "none", None, "not read on both sides", last.get(name)))
            continue
        decision = merge_field(
            name, rule, direction, last.get(name), left, right, is_blank=is_blank
        )
        decisions.append(decision)
    return decisions


def next_hashes(last: Mapping[str, str], decisions: Iterable[Decision]) -> dict[str, str]:
    """The last-synced hashes to store once ``decisions`` are carried out."""
    hashes = dict(last)
    for decision in decisions:
        if decision.hash is not None:
            hashes[decision.field] = decision.hash
    return hashes


# --------------------------------------------------------------------------- the rules


def _one_changed(
    rule: Rule,
    side: Literal["b2connect", "crm"],
    changed: Side,
    other: Side,
    is_blank: Callable[[Any], bool],
) -> tuple[_Pick, str]:
    """Only ``side`` changed: it wins unless the rule ignores it or protects from a blank."""
    if (rule is Rule.b2connect_only and side == _CRM) or (rule is Rule.crm_only and side == _B2C):
        return "keep", f"{side} edit ignored: {rule.value}"
    preferred = _unless_blank_side(rule)
    if preferred == side and is_blank(changed.value) and not is_blank(other.value):
        return "keep", f"blank {side} value not spread: {rule.value}"
    return side, f"{side} changed"


def _first_sync_blank(
    rule: Rule, b2c: Side, crm: Side, is_blank: Callable[[Any], bool]
) -> tuple[_Pick, str] | None:
    """First sync with exactly one side blank: the value is kept (None: not this case)."""
    b2c_blank, crm_blank = is_blank(b2c.value), is_blank(crm.value)
    if b2c_blank == crm_blank or rule is Rule.manual:
        return None
    blank: Literal["b2connect", "crm"] = _B2C if b2c_blank else _CRM
    if (rule is Rule.b2connect_only and blank == _B2C) or (rule is Rule.crm_only and blank == _CRM):
        return "keep", f"first sync: blank {blank} value not spread: {rule.value}"
    return (_CRM if b2c_blank else _B2C), f"first sync: {blank} blank, value kept"


def _both_changed(
    rule: Rule, b2c: Side, crm: Side, is_blank: Callable[[Any], bool]
) -> tuple[_Pick, str]:
    """Both sides changed (or first sync): the rule picks."""
    match rule:
        case Rule.two_way:
            return _newest(b2c, crm)
        case Rule.prefer_b2connect | Rule.b2connect_only:
            return _B2C, rule.value
        case Rule.prefer_crm | Rule.crm_only:
            return _CRM, rule.value
        case Rule.prefer_b2connect_unless_blank:
            if is_blank(b2c.value) and not is_blank(crm.value):
                return _CRM, f"{rule.value}, b2connect blank"
            return _B2C, rule.value
        case Rule.prefer_crm_unless_blank:
            if is_blank(crm.value) and not is_blank(b2c.value):
                return _B2C, f"{rule.value}, crm blank"
            return _CRM, rule.value
        case Rule.manual:
            return "conflict", rule.value
        case _:
            assert_never(rule)


def _unless_blank_side(rule: Rule) -> Literal["b2connect", "crm"] | None:
    """The side a ``*_unless_blank`` rule prefers, else None."""
    if rule is Rule.prefer_b2connect_unless_blank:
        return _B2C
    if rule is Rule.prefer_crm_unless_blank:
        return _CRM
    return None


def _newest(b2c: Side, crm: Side) -> tuple[_Pick, str]:
    """``two_way``: the newer edit wins; ties and unknown times go to B2Connect."""
    b2c_at, crm_at = _utc(b2c.changed_at), _utc(crm.changed_at)
    if crm_at is not None and (b2c_at is None or crm_at > b2c_at):
        return _CRM, "two_way, crm newer"
    if crm_at is not None and b2c_at == crm_at:
        return _B2C, "two_way, tie goes to b2connect"
    if b2c_at is None:
        return _B2C, "two_way, no times, b2connect wins"
    return _B2C, "two_way, b2connect newer"


def _utc(moment: datetime | None) -> datetime | None:
    """Comparable UTC time; a naive time is taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _decide(
    field: str,
    pick: _Pick,
    reason: str,
    direction: Direction,
    last_hash: str | None,
    b2c: Side,
    crm: Side,
) -> Decision:
    """Turn the rule's pick into a decision, applying the direction's veto."""
    if pick == "conflict":
        return Decision(field, "conflict", None, reason, last_hash)
    if pick == "keep":
        return Decision(field, "none", None, reason, last_hash)
    if pick == _B2C:
        if direction is Direction.pull:
            return Decision(field, "none", None, f"{reason}; crm write vetoed: pull", last_hash)
        return Decision(field, "to_crm", b2c.value, reason, b2c.hash)
    if direction is Direction.push:
        return Decision(field, "none", None, f"{reason}; b2connect write vetoed: push", last_hash)
    return Decision(field, "to_b2connect", crm.value, reason, crm.hash)
