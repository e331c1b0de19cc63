"""Order lines: child records written right after their parent, linked to it.

Salesforce: the line's lookup field (``parent_field``) carries the parent's id. HubSpot: the
line item is upserted, then associated to its parent (``association_type``). Lines are
hashed like any record (plus the parent id), so unchanged lines cost nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.records import Capability, Record, WriteItem
from mapping.transforms import is_blank
from sync import state
from sync.auditing import subject_of
from sync.reconcile import plan_records

if TYPE_CHECKING:
    from sync.reconcile import Planned
    from sync.writer import Flushed, Writer

__all__ = ["write_lines"]

PARENT = "@parent"


def write_lines(writer: Writer, written: list[tuple[Planned, str]], out: Flushed) -> None:
    """Sync the lines of every parent written in this flush."""
    cfg = writer.pipeline.lines
    if cfg is None or writer.lines_mapping is None:
        return
    parents: dict[str, str] = {}
    subjects: dict[str, str | None] = {}  # a line's audit events go under its order's customer
    parent_keys: dict[str, str] = {}
    records: list[Record] = []
    for planned, crm_id in written:
        for index, line in enumerate(planned.record.fields.get(cfg.source) or []):
            if not isinstance(line, dict):
                continue
            key = line.get(cfg.key)
            key = f"{planned.key}:{index}" if is_blank(key) else str(key)
            records.append(
                Record(stream=cfg.object, key=key, fields=line, tenant_id=planned.record.tenant_id)
            )
            parents[key] = crm_id
            parent_keys[key] = planned.key
            subjects[key] = subject_of(writer.pipeline.b2connect.stream, planned.record.fields)
    if not records:
        return
    line_pipeline = f"{writer.pipeline.name}#lines"
    with writer.db.connect() as conn:
        links = state.load_links(conn, line_pipeline, [r.key for r in records])
    plan = plan_records(
        records,
        mapping=writer.lines_mapping,
        links=links,
        hasher=writer.hasher,
        lengths=writer.lengths(cfg.object),
        link_lookup=lambda _p, _k: None,
        associations=[],
        match_field=None,
        match_source=None,
    )
    out.dead.extend(plan.dead)
    out.counts["dead_lettered"] += len(plan.dead)
    for planned in plan.writes:
        parent_id = parents[planned.key]
        planned.hashes[PARENT] = writer.hasher.value(PARENT, parent_id)
        if cfg.parent_field:
            planned.send[cfg.parent_field] = parent_id
            planned.hashes[cfg.parent_field] = writer.hasher.value(cfg.parent_field, parent_id)
    items = [WriteItem(p.key, p.send, p.crm_id) for p in plan.writes]
    results = writer._write_all(cfg.object, items)
    done: list[tuple[Planned, str]] = []
    per_order: dict[str, list[tuple[Planned, str]]] = {}
    for planned in plan.writes:
        result = results[planned.key]
        if result.ok and result.crm_id:
            done.append((planned, result.crm_id))
            out.counts["lines_written"] += 1
            outcome = "created" if result.created else "updated"
            per_order.setdefault(parent_keys[planned.key], []).append((planned, outcome))
        else:
            out.dead.append(writer._rejected(planned.record, result))
            out.counts["dead_lettered"] += 1
    if cfg.association_type is not None and Capability.ASSOCIATIONS in writer.target.capabilities:
        pairs = [(parents[p.key], crm_id) for p, crm_id in done if p.is_new]
        if pairs:
            answers = writer.associate(
                writer.pipeline.crm.object, cfg.object, pairs, cfg.association_type
            )
            failed = {r.key for r in answers if not r.ok}
            done = [(p, i) for p, i in done if parents[p.key] not in failed or not p.is_new]
    _audit_lines(writer, out, cfg.object, per_order, subjects)
    for planned, crm_id in done:
        out.line_links.append(
            (planned.key, crm_id, planned.hashes, writer.hasher.record(planned.hashes))
        )


def _audit_lines(
    writer: Writer,
    out: Flushed,
    line_object: str,
    per_order: dict[str, list[tuple[Planned, str]]],
    subjects: dict[str, str | None],
) -> None:
    """Lines join their order's event of this flush (one event per order write); an order
    whose own fields did not change gets one event for its lines."""
    if writer.trail is None:
        return
    order_events = {
        event.record_key: position
        for position, event in enumerate(out.audit)
        if event.stream == writer.pipeline.crm.object
    }
    for order_key, lines in per_order.items():
        position = order_events.get(order_key)
        if position is not None:
            out.audit[position] = writer.trail.with_lines(out.audit[position], line_object, lines)
            continue
        subject = subjects[lines[0][0].key]
        out.audit.append(
            writer.trail.lines(writer.pipeline, line_object, order_key, subject, lines)
        )
