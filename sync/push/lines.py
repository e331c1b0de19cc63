"""Order lines: child records written right after their parent, linked to it.

Salesforce: the line's lookup field (``parent_field``) carries the parent's id. HubSpot: the
line item is upserted, then associated to its parent (``association_type``). Lines are
hashed like any record (plus the parent id), so unchanged lines cost nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from connectors.records import Capability, Record, WriteItem
from mapping.transforms import is_blank
from sync import state
from sync.auditing import subject_of
from sync.push.reconcile import plan_records
from sync.state import DeadLetterRow

if TYPE_CHECKING:
    from connectors.base import Connector
    from sync.plan import Planned
    from sync.push.writer import Flushed, Writer

__all__ = ["PARENT", "parent_of", "replay_lines", "replay_parked_lines", "write_lines"]

#: in a line's link hashes: its parent's CRM id; in a line's dead letter: its parent's key
PARENT = "@parent"
#: in a line's dead letter: the audit subject of its parent
SUBJECT = "@subject"


@dataclass
class _Lines:
    """Line records of one flush with their parents' keys, CRM ids and audit subjects."""

    records: list[Record] = field(default_factory=list)
    parents: dict[str, str] = field(default_factory=dict)
    parent_keys: dict[str, str] = field(default_factory=dict)
    subjects: dict[str, str | None] = field(default_factory=dict)

    def add(self, record: Record, parent_key: str, parent_id: str, subject: str | None) -> None:
        self.records.append(record)
        self.parents[record.key] = parent_id
        self.parent_keys[record.key] = parent_key
        self.subjects[record.key] = subject


def write_lines(writer: Writer, written: list[tuple[Planned, str]], out: Flushed) -> None:
    """Sync the lines of every parent written in this flush."""
    cfg = writer.pipeline.lines
    if cfg is None or writer.lines_mapping is None:
        return
    lines = _Lines()
    for planned, crm_id in written:
        # a line's audit events go under its order's customer
        subject = subject_of(writer.pipeline.b2connect.stream, planned.record.fields)
        for index, line in enumerate(planned.record.fields.get(cfg.source) or []):
            if not isinstance(line, dict):
                continue
            key = line.get(cfg.key)
            key = f"{planned.key}:{index}" if is_blank(key) else str(key)
            record = Record(
                stream=cfg.object, key=key, fields=line, tenant_id=planned.record.tenant_id
            )
            lines.add(record, planned.key, crm_id, subject)
    _sync_lines(writer, lines, out)


def replay_lines(writer: Writer, records: Sequence[Record], out: Flushed) -> None:
    """Replay dead-lettered lines on their own, under their parent's current CRM id (the
    parent was written already, so nothing else would ever send them again). A line whose
    parent is not linked (yet) stays parked: the parent's own replay brings it along."""
    with writer.db.connect() as conn:
        ids = state.link_ids(
            conn, writer.pipeline.name, sorted({parent_of(r) or "" for r in records} - {""})
        )
    lines = _Lines()
    for record in records:
        parent = parent_of(record)
        if parent is not None and parent in ids:
            lines.add(record, parent, ids[parent], record.fields.get(SUBJECT))
    _sync_lines(writer, lines, out)


def replay_parked_lines(writer: Writer, source: Connector) -> Flushed | None:
    """A replay's parked lines (``source`` serves them as their own stream), written on
    their own: what to commit, or None when there are none."""
    cfg = writer.pipeline.lines
    if cfg is None:
        return None
    records = [r for page in source.read_changes(cfg.object, None) for r in page.records]
    if not records:
        return None
    out = writer.flushed()
    out.counts["lines_replayed"] = len(records)
    replay_lines(writer, records, out)
    return out


def parent_of(record: Record) -> str | None:
    """The parent key a replayed line carries (None: a dead letter from before it did)."""
    value = record.fields.get(PARENT)
    return None if is_blank(value) else str(value)


def _parked(lines: _Lines, row: DeadLetterRow) -> DeadLetterRow:
    """A line's dead letter keeps its parent's key (and audit subject) for its own replay."""
    source = dict(row.payload.get("source") or {})
    source[PARENT] = lines.parent_keys[row.key]
    source[SUBJECT] = lines.subjects[row.key]
    return replace(row, payload={**row.payload, "source": source})


def _sync_lines(writer: Writer, lines: _Lines, out: Flushed) -> None:
    """Upsert and associate the lines; park each failure (write or association) on its own."""
    cfg = writer.pipeline.lines
    if cfg is None or writer.lines_mapping is None or not lines.records:
        return
    records = [replace(r, fields=_without_markers(r.fields)) for r in lines.records]
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
    out.dead.extend(_parked(lines, row) for row in plan.dead)
    out.counts["dead_lettered"] += len(plan.dead)
    out.resolved_lines.extend(r.key for r in plan.unchanged)
    for planned in plan.writes:
        parent_id = lines.parents[planned.key]
        planned.hashes[PARENT] = writer.hasher.value(PARENT, parent_id)
        if cfg.parent_field:
            planned.send[cfg.parent_field] = parent_id
            planned.hashes[cfg.parent_field] = writer.hasher.value(cfg.parent_field, parent_id)
    items = [WriteItem(p.key, p.send, p.crm_id) for p in plan.writes]
    results = writer.write_all(cfg.object, items)
    done: list[tuple[Planned, str]] = []
    per_order: dict[str, list[tuple[Planned, str]]] = {}
    for planned in plan.writes:
        result = results[planned.key]
        if result.ok and result.crm_id:
            done.append((planned, result.crm_id))
            out.counts["lines_written"] += 1
            outcome = "created" if result.created else "updated"
            per_order.setdefault(lines.parent_keys[planned.key], []).append((planned, outcome))
        else:
            out.dead.append(_parked(lines, writer.rejected(planned.record, result)))
            out.counts["dead_lettered"] += 1
    done = _associate_lines(writer, lines, done, out)
    _audit_lines(writer, out, cfg.object, per_order, lines.subjects)
    for planned, crm_id in done:
        out.line_links.append(
            (planned.key, crm_id, planned.hashes, writer.hasher.record(planned.hashes))
        )
        out.resolved_lines.append(planned.key)


def _associate_lines(
    writer: Writer, lines: _Lines, done: list[tuple[Planned, str]], out: Flushed
) -> list[tuple[Planned, str]]:
    """Associate new lines to their parents; a line whose association failed is not linked
    but parked (retriable when HubSpot said so), so its replay upserts and associates it."""
    cfg = writer.pipeline.lines
    assert cfg is not None
    if cfg.association_type is None or Capability.ASSOCIATIONS not in writer.target.capabilities:
        return done
    new = [(p, crm_id) for p, crm_id in done if p.is_new]
    if not new:
        return done
    pairs = [(lines.parents[p.key], crm_id) for p, crm_id in new]
    answers = writer.associate(writer.pipeline.crm.object, cfg.object, pairs, cfg.association_type)
    failed: set[str] = set()
    for (planned, _crm_id), answer in zip(new, answers, strict=True):
        if not answer.ok:
            failed.add(planned.key)
            out.dead.append(_parked(lines, writer.rejected(planned.record, answer)))
            out.counts["dead_lettered"] += 1
    return [(p, i) for p, i in done if p.key not in failed]


def _without_markers(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in (PARENT, SUBJECT)}


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
