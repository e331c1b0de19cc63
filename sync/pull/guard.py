"""Keep the push half of a ``direction: both`` pipeline from overwriting CRM edits.

A ``both`` pipeline pulls first, then pushes (see :mod:`sync.runner`). Push compares
B2Connect values with the last-synced hashes only; without this guard it would send a
B2Connect edit over a CRM edit made since the pull read the CRM, or over a field whose
``manual`` conflict is open. Before each push flush writes, the guard:

* reads the CRM changes after the pull's cursor (cheap: usually one empty page) and takes out
  every linked record whose CRM side moved (not an echo): the next pull merges both sides
  against B2Connect's current values, so the B2Connect edit is not lost, only merged later;
* takes fields with an open ``manual_rule`` conflict out of the writes;
* keeps the last-synced hashes of fields push does not map (pull-only fields), which the
  push's link rows would otherwise drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from connectors.records import Record
from sync import state
from sync.plan import Plan, Planned
from sync.pull.engine import PullRun
from sync.pull.plan import crm_side
from sync.pull.store import open_manual_fields
from sync.state import LinkRow

__all__ = ["PushGuard"]


@dataclass
class PushGuard:
    """A plan filter for :class:`sync.push.engine.PipelineRun` (its ``guard``)."""

    pull: PullRun

    def __call__(self, plan: Plan) -> Plan:
        if not plan.writes:
            return plan
        name = self.pull.pipeline.name
        keys = [p.key for p in plan.writes]
        with self.pull.db.connect() as conn:
            links = state.load_links(conn, name, keys)
            blocked = open_manual_fields(conn, name, keys)
        moved = self._crm_moved(links)
        kept: list[Planned] = []
        for planned in plan.writes:
            if planned.key in moved:
                plan.unchanged.append(planned.record)
                self.pull.summary.counts["deferred_to_pull"] += 1
                continue
            link = links.get(planned.key)
            old = link.field_hashes if link else {}
            for name_ in blocked.get(planned.key, set()):
                _hold(planned, name_, old)
            for field, digest in old.items():
                if not field.startswith("@"):
                    planned.hashes.setdefault(field, digest)
            kept.append(planned)
        plan.writes = kept
        return plan

    def _crm_moved(self, links: Mapping[str, LinkRow]) -> set[str]:
        """Keys whose CRM record changed (not by our own writes) after the pull's cursor."""
        pull = self.pull
        by_crm = {link.crm_id: link for link in links.values() if link.crm_id}
        cursor = pull.crm_cursor()
        if not by_crm or cursor is None or not pull.fields:
            return set()
        wanted = sorted({*(f.crm for f in pull.fields), pull.id_property})
        moved: set[str] = set()
        for page in pull.crm_pages(cursor, wanted):
            for record in page.records:
                link = by_crm.get(record.key)
                if link is not None and self._moved(record, link):
                    moved.add(link.key)
        return moved

    def _moved(self, record: Record, link: LinkRow) -> bool:
        if record.deleted:
            return True
        _values, hashes, bad = crm_side(
            record, self.pull.fields, self.pull.hasher, self.pull._lengths()
        )
        return bad is not None or any(link.field_hashes.get(k) != v for k, v in hashes.items())


def _hold(planned: Planned, field: str, old: Mapping[str, str]) -> None:
    """Leave ``field`` of ``planned`` as it is in the CRM (its conflict is open)."""
    planned.send.pop(field, None)
    if field in planned.changed:
        planned.changed.remove(field)
    if field in old:
        planned.hashes[field] = old[field]
    else:
        planned.hashes.pop(field, None)
