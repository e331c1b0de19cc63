"""Decide, per record, what to write: map, hash, compare with the last-synced hashes.

Pure: takes records, their links and lookups; returns a :class:`Plan`. Nothing here talks to
a system or the store, so it is what ``--dry-run`` prints and what the engine executes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from connectors.records import Record
from mapping.compiler import CompiledMapping
from mapping.config import Association, Direction
from mapping.transforms import get_path, is_blank
from sync.hashing import FieldHasher
from sync.plan import ASSOC_PREFIX, PARKED, Plan, Planned, dead_letter, failed_record
from sync.state import LinkRow
from sync.wire import unsendable

__all__ = ["plan_records"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Inputs:
    """What planning one record needs besides the record."""

    mapping: CompiledMapping
    links: Mapping[str, LinkRow]
    hasher: FieldHasher
    lengths: Mapping[str, int | None]
    link_lookup: Callable[[str, str], str | None]
    associations: Sequence[Association]
    match_field: str | None
    match_source: str | None
    replay: bool


def plan_records(
    records: Sequence[Record],
    *,
    mapping: CompiledMapping,
    links: Mapping[str, LinkRow],
    hasher: FieldHasher,
    lengths: Mapping[str, int | None],
    link_lookup: Callable[[str, str], str | None],
    associations: Sequence[Association],
    match_field: str | None,
    match_source: str | None,
    replay: bool = False,
) -> Plan:
    """Map and compare every record; unchanged ones cost nothing.

    A record whose planning fails in any way (a hostile value no check foresaw) is
    dead-lettered on its own; the others are planned as usual.
    """
    plan = Plan()
    inputs = _Inputs(
        mapping,
        links,
        hasher,
        lengths,
        link_lookup,
        associations,
        match_field,
        match_source,
        replay,
    )
    for record in records:
        try:
            _plan_one(record, inputs, plan)
        except Exception as exc:
            log.exception("record.plan_failed", key=record.key, error=type(exc).__name__)
            plan.dead.append(failed_record(record, "planning", exc))
    return plan


def _plan_one(record: Record, inputs: _Inputs, plan: Plan) -> None:
    """Plan one record: exactly one append to ``plan`` at the end, none on an exception."""
    if "_invalid" in record.fields:
        plan.dead.append(dead_letter(record, "INVALID_RECORD", str(record.fields["_invalid"])))
        return
    if record.deleted:
        plan.deleted.append(record)
        return
    mapping, link_lookup = inputs.mapping, inputs.link_lookup
    mapped = mapping.apply(
        record.fields, lengths=inputs.lengths, link=link_lookup, direction=Direction.push
    )
    errors = [*mapped.errors, *unsendable(mapped.payload, mapping)]
    if errors:
        first = errors[0]
        message = "; ".join(f"{e.field}: {e.message}" for e in errors)
        plan.dead.append(dead_letter(record, "MAPPING_ERROR", message, first.field))
        return
    deferred = [(d.pipeline, d.key, "field") for d in mapped.deferred]
    link = inputs.links.get(record.key)
    hashes = inputs.hasher.fields(mapped.payload)
    targets: dict[str, str] = {}
    for assoc in inputs.associations:
        target_key = get_path(record.fields, assoc.field)
        if is_blank(target_key):
            continue
        target = link_lookup(assoc.pipeline, str(target_key))
        name = f"{ASSOC_PREFIX}{assoc.pipeline}"
        if target is None:
            deferred.append((assoc.pipeline, str(target_key), f"assoc:{assoc.pipeline}"))
        else:
            hashes[name] = inputs.hasher.value(name, target)
            targets[assoc.pipeline] = target
    old = link.field_hashes if link else {}
    parked = link is not None and not link.crm_id and PARKED in old and not inputs.replay
    if parked and _same_fields(old, hashes):
        plan.parked.append(record)  # rejected or ambiguous before, unchanged since
        return
    changed = [name for name, digest in hashes.items() if old.get(name) != digest]
    field_changes = [name for name in changed if not name.startswith(ASSOC_PREFIX)]
    if link is not None and link.crm_id and not changed and not deferred:
        plan.unchanged.append(record)
        return
    is_new = link is None or not link.crm_id
    send = dict(mapped.payload) if is_new else {k: mapped.payload[k] for k in field_changes}
    match_value = None
    if is_new and inputs.match_field:
        match_field, match_source = inputs.match_field, inputs.match_source
        raw = mapped.payload.get(match_field) if match_field in mapped.payload else None
        if raw is None and match_source:
            raw = get_path(record.fields, match_source)
        match_value = None if is_blank(raw) else str(raw).strip()
    plan.writes.append(
        Planned(
            key=record.key,
            record=record,
            payload=mapped.payload,
            send=send,
            hashes=hashes,
            crm_id=link.crm_id if link else None,
            is_new=is_new,
            changed=changed,
            match_value=match_value,
            deferred=deferred,
            targets=targets,
        )
    )


def _same_fields(old: Mapping[str, str], new: Mapping[str, str]) -> bool:
    """Field hashes equal, ignoring markers (``@...``)."""
    return {k: v for k, v in old.items() if not k.startswith("@")} == {
        k: v for k, v in new.items() if not k.startswith("@")
    }
