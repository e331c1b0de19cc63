"""Audit events of the pull: a write-back to B2Connect, or a B2Connect win sent to the CRM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from audit import AuditEvent
from audit.events import B2CONNECT_WRITE
from mapping.config import Pipeline

__all__ = ["PullFacts", "pull_event"]


@dataclass(frozen=True)
class PullFacts:
    """The run an event belongs to."""

    tenant_id: str
    run_id: str
    crm_system: str


def pull_event(
    pipeline: Pipeline,
    facts: PullFacts,
    action: str,
    key: str,
    fields: Sequence[str],
    outcome: str,
    values: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """One event; ``values`` (the new values, encrypted by the trail) may be nested patches;
    ``details`` non-personal facts (``changed_by``: the CRM user behind a CRM-side change)."""
    to_b2c = action == B2CONNECT_WRITE
    stream = pipeline.b2connect.stream
    return AuditEvent(
        actor=f"pipeline:{pipeline.name}",
        tenant_id=facts.tenant_id,
        action=action,
        outcome=outcome,
        source_system=facts.crm_system if to_b2c else "b2connect",
        target_system="b2connect" if to_b2c else facts.crm_system,
        stream=stream if to_b2c else pipeline.crm.object,
        record_key=key,
        subject=key if stream == "customers" else None,
        changed_fields=tuple(fields),
        run_id=facts.run_id,
        values={k: {"old": None, "new": _jsonable(v)} for k, v in (values or {}).items()} or None,
        details=details,
    )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | dict):
        return value
    return str(value)
