"""Decide what a flush of CRM changes does: pure, no I/O (the pull engine runs the I/O).

Two steps, because the B2Connect side is read only for records that need it:

1. :func:`triage` finds each CRM record's link (by CRM id, else by the B2Connect key the
   record carries in the id property: a restored or re-created CRM record re-links to its
   B2Connect record instead of being taken for a new one), sets deletions aside, and drops
   echoes: records whose every pulled field hashes to the last-synced hash (b2sync's own
   write, an overlap re-read, an edit of an unmapped field) cost nothing;
2. :func:`merge` runs the per-field three-way merge (:mod:`sync.merge`) of the rest against
   the current B2Connect records and builds the B2Connect and CRM patches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from connectors.records import Record
from mapping.config import MatchKey, Rule
from mapping.transforms import get_path
from sync.deleted_links import DeletedLink
from sync.hashing import FieldHasher
from sync.merge import Decision, Side, merge_record, next_hashes
from sync.plan import dead_letter, failed_record
from sync.pull.fields import PullField, nest, read_value, safe
from sync.state import DeadLetterRow, LinkRow
from sync.wire import unencodable_path

__all__ = ["Merged", "Pending", "Triage", "crm_side", "merge", "triage", "unlinked_view"]

log = structlog.get_logger(__name__)


@dataclass
class Pending:
    """A CRM change to merge."""

    record: Record
    key: str
    last: dict[str, str]
    values: dict[str, Any]
    hashes: dict[str, str]
    restored: bool = False  # deleted in the CRM before, and b2sync carried the deletion
    relinked: bool = False


@dataclass
class Triage:
    """What the first look at a flush found."""

    pending: list[Pending] = field(default_factory=list)
    deletes: list[tuple[Record, LinkRow]] = field(default_factory=list)
    #: live records with no link: never merged, only screened (an erased person's tombstone)
    unlinked: list[Record] = field(default_factory=list)
    dead: list[DeadLetterRow] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class Merged:
    """One record's merge: decisions and the patches that carry them out."""

    pending: Pending
    decisions: list[Decision]
    to_b2connect: dict[str, Any] = field(default_factory=dict)
    to_crm: dict[str, Any] = field(default_factory=dict)
    conflicts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def hashes(self, *, b2connect_ok: bool, crm_ok: bool) -> dict[str, str]:
        """Last-synced hashes after the writes that succeeded (failed ones keep the old)."""
        done = [
            d
            for d in self.decisions
            if (d.action != "to_b2connect" or b2connect_ok) and (d.action != "to_crm" or crm_ok)
        ]
        return next_hashes(self.pending.last, done)


def triage(
    records: Sequence[Record],
    *,
    fields: Sequence[PullField],
    by_crm: Mapping[str, LinkRow],
    by_key: Mapping[str, LinkRow],
    deleted: Mapping[str, DeletedLink],
    id_property: str,
    hasher: FieldHasher,
    lengths: Mapping[str, int | None],
    ours: str | None,
) -> Triage:
    """Sort CRM records into deletions, echoes and changes to merge."""
    out = Triage()
    for record in records:
        try:
            _sort(record, out, by_crm, by_key, deleted, id_property, fields, hasher, lengths, ours)
        except Exception as exc:
            log.exception("record.triage_failed", key=record.key, error=type(exc).__name__)
            out.dead.append(failed_record(record, "reading the CRM change", exc))
    return out


def _sort(
    record: Record,
    out: Triage,
    by_crm: Mapping[str, LinkRow],
    by_key: Mapping[str, LinkRow],
    deleted: Mapping[str, DeletedLink],
    id_property: str,
    fields: Sequence[PullField],
    hasher: FieldHasher,
    lengths: Mapping[str, int | None],
    ours: str | None,
) -> None:
    """Sort one CRM record into ``out`` (at most one list gets it)."""
    link, relinked = _link(record, by_crm, by_key, deleted, id_property)
    if link is None:
        out.counts["unlinked"] += 1
        if not record.deleted:
            out.unlinked.append(record)
        return
    if record.deleted:
        if link.crm_id == record.key and link.key not in deleted:
            out.deletes.append((record, link))
        else:
            out.counts["unchanged"] += 1
        return
    values, hashes, bad = crm_side(record, fields, hasher, lengths)
    bad = bad or unencodable_path(values)  # a lone surrogate must not reach the shop
    if bad:
        out.dead.append(dead_letter(record, "MAPPING_ERROR", f"{bad}: value cannot be read", bad))
        return
    gone = deleted.get(link.key)
    restored = gone is not None and gone.deleted_in == "crm"
    last = dict(link.field_hashes)
    if not relinked and gone is None and all(last.get(k) == v for k, v in hashes.items()):
        out.counts["echo_ours" if ours and record.modified_by == ours else "echo"] += 1
        out.counts["unchanged"] += 1
        return
    out.pending.append(Pending(record, link.key, last, values, hashes, restored, relinked))


def _link(
    record: Record,
    by_crm: Mapping[str, LinkRow],
    by_key: Mapping[str, LinkRow],
    deleted: Mapping[str, DeletedLink],
    id_property: str,
) -> tuple[LinkRow | None, bool]:
    """The record's link and whether it must be (re)attached to this CRM id."""
    link = by_crm.get(record.key)
    if link is not None:
        return link, False
    key = record.fields.get(id_property)
    if not key:
        return None, False
    link = by_key.get(str(key))
    if link is None:
        return LinkRow(str(key), None, {}), True  # known key, link forgotten: re-link
    if link.crm_id is None or link.key in deleted:
        return link, True
    return None, False  # the key is linked to another live CRM record


def crm_side(
    record: Record,
    fields: Sequence[PullField],
    hasher: FieldHasher,
    lengths: Mapping[str, int | None],
) -> tuple[dict[str, Any], dict[str, str], str | None]:
    """The CRM record's pulled values in CRM form and their hashes (or the unreadable field)."""
    values: dict[str, Any] = {}
    hashes: dict[str, str] = {}
    for spec in fields:
        if spec.crm not in record.fields and "." not in spec.crm:
            continue  # not read: left alone
        ok, value = safe(spec.crm_value, read_value(record.fields, spec), lengths)
        if not ok:
            return {}, {}, spec.crm
        values[spec.crm] = value
        hashes[spec.crm] = hasher.value(spec.crm, value)
    return values, hashes, None


def unlinked_view(
    record: Record,
    *,
    stream: str,
    fields: Sequence[PullField],
    id_property: str,
    match_key: MatchKey | None,
    hasher: FieldHasher,
    lengths: Mapping[str, int | None],
) -> Record | None:
    """An unlinked CRM record as the B2Connect-shaped record the hooks see: the B2Connect key
    it carries (else its CRM id), its match key value (the email) and its pulled fields."""
    values, _hashes, bad = crm_side(record, fields, hasher, lengths)
    if bad:
        return None
    carried = record.fields.get(id_property)
    key = str(carried) if carried else record.key
    out: dict[str, Any] = {"id": key}
    if match_key is not None and record.fields.get(match_key.crm) not in (None, ""):
        nest(match_key.b2connect, record.fields[match_key.crm], out)
    for spec in fields:
        if spec.invertible and spec.crm in values:
            nest(spec.path, spec.back(values[spec.crm]), out)
    return Record(
        stream,
        key,
        out,
        updated_at=record.updated_at,
        tenant_id=record.tenant_id,
        modified_by=record.modified_by,
    )


def merge(
    pending: Sequence[Pending],
    current: Mapping[str, Record],
    *,
    fields: Sequence[PullField],
    hasher: FieldHasher,
    lengths: Mapping[str, int | None],
    blocked: Mapping[str, set[str]],
    reactivate: bool,
) -> tuple[list[Merged], Counter[str]]:
    """Merge each pending change with its current B2Connect record (absent: skipped)."""
    counts: Counter[str] = Counter()
    by_name = {f.crm: f for f in fields}
    out: list[Merged] = []
    for item in pending:
        b2c = current.get(item.key)
        if b2c is None:
            counts["b2connect_missing"] += 1
            continue
        held = blocked.get(item.key, set())
        rules = {
            f.crm: (f.rule, f.direction)
            for f in fields
            if f.crm in item.hashes and f.crm not in held
        }
        crm_sides = {
            name: Side(item.values[name], item.hashes[name], item.record.updated_at)
            for name in rules
        }
        b2c_sides: dict[str, Side] = {}
        for name in rules:
            ok, value = safe(by_name[name].b2connect_value, b2c.fields, lengths)
            if ok:
                b2c_sides[name] = Side(value, hasher.value(name, value), b2c.updated_at)
        decisions = merge_record(rules, item.last, b2c_sides, crm_sides)
        merged = Merged(item, decisions)
        for decision in decisions:
            spec = by_name[decision.field]
            if decision.action == "to_b2connect":
                present = get_path(b2c.fields, spec.path)
                nest(spec.path, spec.back(decision.value, present), merged.to_b2connect)
            elif decision.action == "to_crm":
                merged.to_crm[decision.field] = decision.value
            elif decision.action == "conflict":
                merged.conflicts.append((decision.field, _details(spec, item, b2c_sides)))
        if item.restored and reactivate:
            merged.to_b2connect["isActive"] = True  # the CRM record is back: so is B2Connect's
        counts["conflicts"] += len(merged.conflicts)
        out.append(merged)
    return out, counts


def _details(spec: PullField, item: Pending, b2c: Mapping[str, Side]) -> dict[str, Any]:
    """A manual conflict's details: hashes and times, never values."""
    side = b2c.get(spec.crm)
    crm_at = item.record.updated_at
    return {
        "rule": Rule.manual.value,
        "b2connect_field": spec.path,
        "crm_id": item.record.key,
        "b2connect_hash": side.hash if side else None,
        "crm_hash": item.hashes.get(spec.crm),
        "last_hash": item.last.get(spec.crm),
        "b2connect_changed_at": side.changed_at.isoformat() if side and side.changed_at else None,
        "crm_changed_at": crm_at.isoformat() if crm_at else None,
    }
