"""Resolving a conflict: validate the choice, record it (audited), and act on it.

Per kind (``--take b2connect|crm|VALUE``):

- ``manual_rule`` (a field both sides changed): ``b2connect``/``crm`` set the link's
  last-synced hash of the field to the *losing* side's hash (from the conflict's details), so
  the three-way merge sees only the winner as changed: the B2Connect record is pushed again
  at once (its value reaches the CRM); the CRM's value reaches B2Connect with the record's
  next pull. ``VALUE`` is written to both systems now and its hash stored.
- ``ambiguous_match``: ``VALUE`` links the record to that CRM id (one of the candidates),
  ``b2connect`` creates a new CRM record, ``crm`` leaves it unsynced; the record is pushed
  again at once.
- ``restore_needed``: ``b2connect`` writes the record again now (a new CRM record unless the
  old one was restored meanwhile), ``crm`` leaves it deleted in the CRM.
- other kinds: the decision is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from audit import AuditEvent, record_events
from audit.events import CONFLICT_RESOLVED
from connectors.base import SupportsFetch
from connectors.records import WriteItem
from mapping.config import Pipeline
from store import begin_write
from store.models import ConflictStatus, metadata
from sync.auditing import subject_of
from sync.conflicts.store import RESTORE_NEEDED, SIDES, ConflictRow, Decision, resolve_conflict
from sync.errors import ResolveError
from sync.replay import ReplaySource

if TYPE_CHECKING:  # the runner drives a resolution; it is handed in, not imported
    from sync.run import RunSummary
    from sync.runner import Runner

__all__ = ["Outcome", "resolve"]

MANUAL_RULE = "manual_rule"
AMBIGUOUS = "ambiguous_match"
_links = metadata.tables["links"]


@dataclass
class Outcome:
    """What resolving did."""

    conflict: ConflictRow
    decision: Decision
    note: str
    run: RunSummary | None = None


def _decision(conflict: ConflictRow, take: str, actor: str) -> Decision:
    if conflict.status != ConflictStatus.OPEN.value:
        raise ResolveError(f"conflict {conflict.id} is already {conflict.status}")
    if take in SIDES:
        return Decision(take, None, actor)
    if conflict.kind == RESTORE_NEEDED:
        raise ResolveError("a restore_needed conflict takes b2connect or crm")
    if conflict.kind == AMBIGUOUS:
        candidates = [str(c) for c in conflict.details.get("candidates", [])]
        if take not in candidates:
            raise ResolveError(
                f"'{take}' is not a candidate CRM id; candidates: {', '.join(candidates)}"
            )
    elif conflict.kind == MANUAL_RULE and not conflict.field:
        raise ResolveError("this manual_rule conflict names no field")
    return Decision("value", take, actor)


def resolve(runner: Runner, conflict: ConflictRow, take: str, *, actor: str) -> Outcome:
    """Resolve ``conflict`` with ``take`` on behalf of ``actor`` (``operator:<user>``)."""
    decision = _decision(conflict, take, actor)
    try:
        pipe = runner.config.pipeline(conflict.pipeline)
    except KeyError as exc:
        raise ResolveError(str(exc.args[0])) from None
    hashes: dict[str, str] = {}
    if conflict.kind == MANUAL_RULE and decision.take == "value":
        hashes = _write_value(runner, pipe, conflict, str(decision.value))
    elif conflict.kind == MANUAL_RULE:
        loser = "crm_hash" if decision.take == "b2connect" else "b2connect_hash"
        if conflict.details.get(loser):
            hashes = {str(conflict.field): str(conflict.details[loser])}
    now = runner.clock()
    with begin_write(runner.db) as conn:
        resolve_conflict(conn, conflict, decision, now)
        if hashes:
            _set_hashes(conn, pipe.name, conflict.record_key, hashes)
        if runner.audit_keys is not None:
            event = _event(runner, pipe, conflict, decision)
            record_events(conn, [event], keys=runner.audit_keys, now=now)
    outcome = Outcome(conflict, decision, _note(conflict, decision))
    if _push_again(conflict, decision):
        outcome.run = _push(runner, pipe, conflict.record_key)
    return outcome


def _push_again(conflict: ConflictRow, decision: Decision) -> bool:
    if conflict.kind == AMBIGUOUS:
        return decision.take != "crm"
    if conflict.kind == MANUAL_RULE:
        return decision.take == "b2connect"
    return conflict.kind == RESTORE_NEEDED and decision.take == "b2connect"


def _note(conflict: ConflictRow, decision: Decision) -> str:
    if conflict.kind == MANUAL_RULE and decision.take == "crm":
        return "the CRM value reaches B2Connect with the record's next pull"
    if conflict.kind == RESTORE_NEEDED and decision.take == "crm":
        return "the record stays deleted in the CRM"
    if conflict.kind == AMBIGUOUS and decision.take == "crm":
        return "the record stays unsynced"
    if conflict.kind in (MANUAL_RULE, AMBIGUOUS, RESTORE_NEEDED):
        return "written"
    return "decision recorded"


def _push(runner: Runner, pipe: Pipeline, key: str) -> RunSummary | None:
    """Push the record's current B2Connect state through the pipeline now (a replay run)."""
    source = runner.connector(pipe.b2connect.connection)
    if not isinstance(source, SupportsFetch):
        return None
    found = source.fetch(pipe.b2connect.stream, [key])
    if key not in found:
        return None
    return runner.run_pipeline(pipe, trigger="conflict", source_override=ReplaySource([found[key]]))


def _write_value(
    runner: Runner, pipe: Pipeline, conflict: ConflictRow, value: str
) -> dict[str, str]:
    """Write ``value`` to both systems now; the field's new last-synced hash."""
    crm_field = str(conflict.field)
    path = str(conflict.details.get("b2connect_field") or _path_of(pipe, crm_field))
    key = conflict.record_key
    target = runner.connector(pipe.crm.connection)
    kwargs: dict[str, Any] = {"id_property": pipe.crm.id_property} if pipe.crm.id_property else {}
    [crm] = target.write(pipe.crm.object, [WriteItem(key, {crm_field: value})], **kwargs)
    source = runner.connector(pipe.b2connect.connection)
    [b2c] = source.write(pipe.b2connect.stream, [WriteItem(key, _nest(path, value))])
    for system, result in (("CRM", crm), ("B2Connect", b2c)):
        if not result.ok:
            error = result.error
            why = f"{error.code}: {error.message}" if error else "rejected"
            raise ResolveError(f"{system} refused the value ({why})", usage=False)
    return {crm_field: runner.hasher.value(crm_field, value)}


def _path_of(pipe: Pipeline, crm_field: str) -> str:
    for spec in pipe.fields:
        if spec.crm == crm_field and spec.b2connect:
            return spec.b2connect
    raise ResolveError(f"CRM field '{crm_field}' is not mapped from a B2Connect field")


def _nest(path: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _set_hashes(conn: sa.Connection, pipeline: str, key: str, hashes: dict[str, str]) -> None:
    where = (_links.c.pipeline == pipeline, _links.c.b2connect_key == key)
    current = conn.execute(sa.select(_links.c.field_hashes).where(*where)).scalar_one_or_none()
    if current is None:
        return
    conn.execute(sa.update(_links).where(*where).values(field_hashes={**current, **hashes}))


def _event(runner: Runner, pipe: Pipeline, conflict: ConflictRow, decision: Decision) -> AuditEvent:
    stream = pipe.b2connect.stream
    values = None
    if decision.take == "value" and conflict.field:
        values = {conflict.field: {"old": None, "new": decision.value}}
    return AuditEvent(
        actor=decision.actor,
        tenant_id=runner.tenant_of(pipe),
        action=CONFLICT_RESOLVED,
        source_system="b2sync",
        target_system="b2sync",
        stream=stream,
        record_key=conflict.record_key,
        subject=subject_of(stream, {"id": conflict.record_key}),
        changed_fields=(conflict.field,) if conflict.field else (),
        values=values,
        details={
            "conflict_id": conflict.id,
            "kind": conflict.kind,
            "pipeline": pipe.name,
            "take": decision.take,
        },
    )
