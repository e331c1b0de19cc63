"""Deletions and restores on the push side (B2Connect → CRM).

A B2Connect deletion of a linked record follows ``on_delete.to_crm``: ``ignore`` leaves the
CRM record, ``archive``/``delete`` call the connector's ``delete`` (HubSpot archive, Salesforce
Recycle Bin: both restorable, neither API has a harder non-GDPR delete). The run's deletions
are counted and checked with the delete breaker BEFORE any delete call. The link is kept,
marked deleted, so a B2Connect ``Restored`` record re-links to the same CRM record:

- the CRM record is live (policy ``ignore``, or a CRM user restored it): the link is cleared
  and every field is written again to that record;
- it is still archived/in the Recycle Bin (neither HubSpot nor Salesforce REST can restore
  one): nothing is written (an upsert would create a duplicate); a ``restore_needed``
  conflict tells the operator what to restore, and the record is parked as a dead letter
  retried with backoff, so it re-links by itself once the CRM record is back.

A record whose CRM record a CRM user deleted (link marked ``deleted_in="crm"`` by the pull)
is not pushed while the mark stands: an upsert would revive it as a new CRM record. The
pull clears the mark when the CRM record comes back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from connectors.records import Capability, Record
from store import begin_write
from sync.breaker import check_deletes, linked_population, on_delete_policy
from sync.conflicts.store import RESTORE_NEEDED, Decision, close_open, mark_applied
from sync.deleted_links import DeletedLink, deleted_links
from sync.plan import Plan, dead_letter
from sync.state import LinkRow

if TYPE_CHECKING:
    from sync.push.writer import Flushed, Writer

__all__ = [
    "RESTORE_NEEDED",
    "Restores",
    "apply_deletions",
    "check_restores",
    "describe_deletions",
]

log = structlog.get_logger(__name__)

RESTORE_RETRY = timedelta(minutes=15)
_RESTORE_HINT = {
    "hubspot": "restore it in HubSpot (Settings > Objects > Restore deleted records, 90 days)",
    "salesforce": "undelete it from the Salesforce Recycle Bin (15 days)",
}


def _id_property(writer: Writer) -> str | None:
    pipe = writer.pipeline
    return (
        pipe.crm.id_property
        or getattr(writer.target, "id_property", None)
        or getattr(writer.target, "id_field", None)
    )


# --------------------------------------------------------------------------- deletions


def apply_deletions(writer: Writer, plan: Plan, out: Flushed) -> None:
    """Carry the plan's B2Connect deletions to the CRM per policy, behind the breaker."""
    if not plan.deleted:
        return
    keys = [r.key for r in plan.deleted]
    with writer.db.connect() as conn:
        links = writer.load_link_ids(conn, keys)
        marked = deleted_links(conn, writer.pipeline.name, keys)
    linked = [k for k in keys if links.get(k) and k not in marked]  # not deleted already
    out.forgotten.extend(k for k in keys if k in links and not links[k])
    skipped = len(keys) - len(linked)
    policy = on_delete_policy(writer.pipeline, "to_crm")
    can_delete = Capability.DELETE in writer.target.capabilities
    if not linked or policy == "ignore" or not can_delete:
        out.deleted.extend(linked)  # marked deleted, the CRM record stays
        out.counts["skipped"] += len(keys)
        return
    _guard(writer, len(linked))
    kwargs: dict[str, Any] = {}
    id_property = writer.pipeline.crm.id_property
    if id_property:
        kwargs["id_property"] = id_property
    obj = writer.pipeline.crm.object
    results = writer.call(lambda: writer.target.delete(obj, linked, **kwargs), "delete")
    writer.deletions_done += len(linked)
    failed = 0
    for result in results:
        if result.ok:
            out.deleted.append(result.key)
            out.counts["deleted"] += 1
            if writer.trail is not None:
                out.audit.append(writer.trail.delete(writer.pipeline, result.key, result.crm_id))
        else:
            failed += 1
    out.counts["skipped"] += skipped
    if failed:
        out.counts["delete_failed"] += failed
        log.warning("crm.delete_failed", object=obj, failed=failed)


def describe_deletions(writer: Writer, plan: Plan) -> list[dict[str, Any]]:
    """What a flush's deletions would do, for ``--dry-run`` (linked records, policy not ignore)."""
    if not plan.deleted or on_delete_policy(writer.pipeline, "to_crm") == "ignore":
        return []
    keys = [r.key for r in plan.deleted]
    with writer.db.connect() as conn:
        links = writer.load_link_ids(conn, keys)
        marked = deleted_links(conn, writer.pipeline.name, keys)
    policy = on_delete_policy(writer.pipeline, "to_crm")
    return [
        {"key": k, "action": policy, "object": writer.pipeline.crm.object, "crm_id": links[k]}
        for k in keys
        if links.get(k) and k not in marked
    ]


def _guard(writer: Writer, wanted: int) -> None:
    """The breaker check for this flush's deletions, counted over the whole run."""
    with begin_write(writer.db) as conn:  # a trip rolls back here: the engine records it
        if writer.population is None:
            writer.population = linked_population(conn, writer.pipeline.name)
        check_deletes(
            conn,
            writer.pipeline,
            direction="to_crm",
            deletes=writer.deletions_done + wanted,
            population=writer.population,
            now=writer.clock(),
        )


# --------------------------------------------------------------------------- restores


@dataclass
class Restores:
    """What the restore check decided for one flush."""

    #: links to plan with (hashes cleared for re-linked records: every field is rewritten)
    links: dict[str, LinkRow]
    #: records to plan (blocked ones removed)
    records: list[Record]
    relinked: list[str] = field(default_factory=list)
    blocked: list[tuple[Record, DeletedLink]] = field(default_factory=list)
    #: records an operator chose to leave deleted in the CRM (``--take crm``), and records
    #: a CRM user deleted (pushing them would revive the CRM record as a duplicate)
    left: list[str] = field(default_factory=list)
    #: operator decisions acted on (conflict ids)
    applied: list[int] = field(default_factory=list)

    def finish(self, writer: Writer, out: Flushed) -> None:
        """Add the outcome to what the flush commits."""
        out.restored.extend(self.relinked)
        out.counts["relinked"] += len(self.relinked)
        out.counts["skipped"] += len(self.left)
        name, relinked, applied = writer.pipeline.name, list(self.relinked), list(self.applied)

        def settle(conn: sa.Connection, now: datetime) -> None:
            close_open(conn, name, relinked, RESTORE_NEEDED, "re-linked", now)
            mark_applied(conn, applied)

        out.after.append(settle)
        system = _system(writer)
        for record, mark in self.blocked:
            hint = _RESTORE_HINT.get(system, f"restore it in {system}")
            message = (
                f"the {writer.pipeline.crm.object} record {mark.crm_id} was deleted by b2sync "
                f"when B2Connect deleted this record; {hint}; b2sync re-links it on the next "
                "retry (or resolve the conflict with --take b2connect to write a new record)"
            )
            retry_at = writer.clock() + RESTORE_RETRY
            out.dead.append(dead_letter(record, "RESTORE_NEEDED", message, None, retry_at))
            out.conflicts.append(
                (
                    record.key,
                    RESTORE_NEEDED,
                    {
                        "crm_object": writer.pipeline.crm.object,
                        "crm_id": mark.crm_id,
                        "system": system,
                        "deleted_at": mark.deleted_at.isoformat(),
                    },
                )
            )
        out.counts["restore_needed"] += len(self.blocked)


def _system(writer: Writer) -> str:
    return str(getattr(writer.target, "name", "crm"))


def check_restores(
    writer: Writer,
    records: Sequence[Record],
    links: Mapping[str, LinkRow],
    marks: Mapping[str, DeletedLink],
    decided: Mapping[str, tuple[int, Decision]],
) -> Restores:
    """Sort the flush's records whose link is marked deleted in B2Connect but that are live
    again (B2Connect ``Restored``) into re-linked and blocked ones; ``decided`` holds the
    operator's open ``restore_needed`` decisions by key."""
    live = [r for r in records if not r.deleted and r.key in marks]
    back = [r for r in live if marks[r.key].deleted_in != "crm"]
    out = Restores(links=dict(links), records=list(records))
    out.left = [r.key for r in live if marks[r.key].deleted_in == "crm"]
    if not back:
        out.records = [r for r in records if r.key not in set(out.left)]
        return out
    take_b2connect = {k for k, (_, d) in decided.items() if d.take == "b2connect"}
    take_crm = {k for k, (_, d) in decided.items() if d.take == "crm"}
    live_ids = _live_ids(writer, [r.key for r in back if marks[r.key].crm_id])
    blocked_keys: set[str] = set(out.left)
    for record in back:
        mark = marks[record.key]
        link = links.get(record.key)
        if mark.crm_id is None or link is None:
            out.relinked.append(record.key)
            continue
        if mark.crm_id in live_ids.get(record.key.strip().lower(), []):
            out.relinked.append(record.key)
            out.links[record.key] = LinkRow(record.key, mark.crm_id, {})
        elif record.key in take_b2connect:  # the operator chose a fresh CRM record
            out.relinked.append(record.key)
            out.applied.append(decided[record.key][0])
            out.links.pop(record.key, None)
        elif record.key in take_crm:  # the operator chose to leave it deleted in the CRM
            out.left.append(record.key)
            blocked_keys.add(record.key)
        else:
            out.blocked.append((record, mark))
            blocked_keys.add(record.key)
    out.records = [r for r in records if r.key not in blocked_keys]
    log.info("push.restores", relinked=len(out.relinked), blocked=len(out.blocked))
    return out


def _live_ids(writer: Writer, keys: list[str]) -> dict[str, list[str]]:
    """CRM ids of live (not archived/deleted) records holding each key in the id property."""
    if on_delete_policy(writer.pipeline, "to_crm") == "ignore":
        with writer.db.connect() as conn:  # never deleted in the CRM: the link's id is live
            return {
                k.strip().lower(): [i] for k, i in writer.load_link_ids(conn, keys).items() if i
            }
    prop = _id_property(writer)
    if not keys or prop is None or Capability.LOOKUP not in writer.target.capabilities:
        return {}
    obj = writer.pipeline.crm.object
    found = writer.call(lambda: writer.target.lookup(obj, prop, keys), "lookup")
    return {k.strip().lower(): list(v) for k, v in found.items()}
