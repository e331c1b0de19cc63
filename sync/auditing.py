"""Turn what the engine did into audit events (``audit/`` stores, chains and encrypts them).

The trail records the new values of the fields a write changed; the old values are those of
the previous event for the same record (b2sync keeps no personal data outside the
encrypted trail, so it cannot know them otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from audit import AuditEvent
from audit.events import CRM_DELETE, CRM_WRITE, DEADLETTER_REPLAY
from mapping.config import Pipeline
from mapping.transforms import get_path, is_blank

if TYPE_CHECKING:
    from sync.plan import Planned

__all__ = ["AuditTrail", "email_of", "subject_of"]

#: B2Connect streams whose records are people, and the field naming the person elsewhere
_SUBJECT_FIELD = {"customers": "id", "orders": "customerId", "consents": "subjectId"}


def subject_of(stream: str, fields: Any) -> str | None:
    """The person a record is about (B2Connect customer id), if any."""
    name = _SUBJECT_FIELD.get(stream)
    if name is None:
        return None
    value = get_path(fields, name) if hasattr(fields, "get") else None
    return None if is_blank(value) else str(value)


def email_of(stream: str, fields: Any) -> str | None:
    """The email of a B2Connect customer record (recorded only as a keyed-hash alias)."""
    if stream != "customers" or not hasattr(fields, "get"):
        return None
    value = get_path(fields, "email")
    return value.strip() if isinstance(value, str) and "@" in value else None


@dataclass(frozen=True)
class AuditTrail:
    """Event factory for one run of one pipeline."""

    tenant_id: str
    run_id: str
    target_system: str
    replay: bool = False

    def write(
        self,
        pipeline: Pipeline,
        planned: Planned,
        outcome: str,
        crm_object: str,
        subject: str | None = None,
    ) -> AuditEvent:
        """A CRM write (or its rejection) with the changed fields' new values; child records
        (order lines) pass their parent's ``subject`` so they share the person's key."""
        changed = [name for name in planned.changed if not name.startswith("@")]
        send = planned.send
        values = {name: {"old": None, "new": send.get(name)} for name in changed}
        parent_stream = pipeline.b2connect.stream
        return AuditEvent(
            actor=f"pipeline:{pipeline.name}",
            tenant_id=self.tenant_id,
            action=DEADLETTER_REPLAY if self.replay else CRM_WRITE,
            outcome=outcome,
            source_system="b2connect",
            target_system=self.target_system,
            stream=crm_object,
            record_key=planned.key,
            subject=subject_of(parent_stream, planned.record.fields)
            if crm_object == pipeline.crm.object
            else subject,
            email=email_of(parent_stream, planned.record.fields)
            if crm_object == pipeline.crm.object
            else None,
            changed_fields=tuple(changed),
            run_id=self.run_id,
            values=values or None,
        )

    def lines(
        self,
        pipeline: Pipeline,
        crm_object: str,
        order_key: str,
        subject: str | None,
        written: list[tuple[Planned, str]],
    ) -> AuditEvent:
        """The lines of one order written in one flush, as one event (key = the order's key;
        values = each line's outcome and changed fields)."""
        changed = sorted(
            {name for planned, _ in written for name in planned.changed if not name.startswith("@")}
        )
        return AuditEvent(
            actor=f"pipeline:{pipeline.name}",
            tenant_id=self.tenant_id,
            action=DEADLETTER_REPLAY if self.replay else CRM_WRITE,
            outcome="written",
            source_system="b2connect",
            target_system=self.target_system,
            stream=crm_object,
            record_key=order_key,
            subject=subject,
            changed_fields=tuple(changed),
            run_id=self.run_id,
            values={crm_object: {"old": None, "new": _line_values(written)}},
            details={"lines": len(written)},
        )

    def with_lines(
        self, event: AuditEvent, crm_object: str, written: list[tuple[Planned, str]]
    ) -> AuditEvent:
        """The order's own event, extended with the lines written with it."""
        values = dict(event.values or {})
        values[crm_object] = {"old": None, "new": _line_values(written)}
        details = {**(event.details or {}), "lines": len(written)}
        changed = (*event.changed_fields, crm_object)
        return replace(event, values=values, details=details, changed_fields=changed)

    def delete(self, pipeline: Pipeline, key: str, crm_id: str | None) -> AuditEvent:
        """A record archived/deleted in the CRM because it was deleted in B2Connect."""
        return AuditEvent(
            actor=f"pipeline:{pipeline.name}",
            tenant_id=self.tenant_id,
            action=CRM_DELETE,
            source_system="b2connect",
            target_system=self.target_system,
            stream=pipeline.crm.object,
            record_key=key,
            subject=key if pipeline.b2connect.stream == "customers" else None,
            run_id=self.run_id,
            details={"crm_id": crm_id} if crm_id else None,
        )


def _line_values(written: list[tuple[Planned, str]]) -> dict[str, Any]:
    return {
        planned.key: {"outcome": outcome, "fields": _fields(planned)}
        for planned, outcome in written
    }


def _fields(planned: Planned) -> dict[str, Any]:
    return {name: planned.send.get(name) for name in planned.changed if not name.startswith("@")}
