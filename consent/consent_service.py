"""Building the consent sync from a :class:`~sync.runner.Runner`, and reading one person's
consent for ``b2sync consent show``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.records import Record
from consent import consent_store as cstore
from consent.job import ConsentSync
from consent.model import Decision
from mapping.config import B2ConnectConnection, ConsentSettings, Pipeline
from sync.replay import ReplaySource
from sync.runner import Runner
from sync.settings import resolve

__all__ = ["ConsentView", "consent_sync_for", "consent_view", "tenants", "valid_email"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def valid_email(email: str) -> bool:
    """A plausible email address (one @, a dot in the domain, no spaces)."""
    return bool(_EMAIL.match(email.strip()))


def _tenant(runner: Runner, settings: ConsentSettings) -> str:
    conn = runner.config.connections[settings.b2connect]
    if not isinstance(conn, B2ConnectConnection):
        raise ValueError(f"consent.b2connect: connection '{settings.b2connect}' is not B2Connect")
    return resolve(conn.tenant_id)


def tenants(runner: Runner) -> set[str]:
    """The B2Connect tenants the config connects to."""
    return {
        resolve(conn.tenant_id)
        for conn in runner.config.connections.values()
        if isinstance(conn, B2ConnectConnection)
    }


def consent_sync_for(runner: Runner) -> ConsentSync:
    """The consent sync of the runner's config (which must have a ``consent:`` section)."""
    settings = runner.config.consent
    if settings is None:
        raise ValueError("the config has no consent: section")
    for system, name in settings.connections().items():
        conn = runner.config.connections.get(name)
        if conn is None or conn.type != system:
            raise ValueError(f"consent.{system}: '{name}' is not a {system} connection")

    def push(pipe: Pipeline, records: list[Record]) -> None:
        runner.run_pipeline(pipe, trigger="consent", source_override=ReplaySource(records))

    crm_types = {name: conn.type for name, conn in runner.config.connections.items()}
    return ConsentSync(
        settings,
        db=runner.db,
        hasher=runner.hasher,
        connector=runner.connector,
        tenant_id=_tenant(runner, settings),
        clock=runner.clock,
        audit_keys=runner.audit_keys,
        pipelines=runner.config.pipelines,
        push=push,
        crm_types=crm_types,
        pipeline_lock=runner.locks.pipeline,
        stop=runner.stop,
    )


@dataclass
class ConsentView:
    """One person's consent: standing decisions and what each system holds."""

    known: bool
    customer_id: str | None = None
    decisions: list[Decision] = field(default_factory=list)
    #: (system, channel, purpose) -> what the system holds
    systems: dict[tuple[str, str, str], cstore.SystemState] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "customer_id": self.customer_id,
            "consents": [
                {
                    "channel": d.channel,
                    "purpose": d.purpose,
                    "status": d.status.value,
                    "decided_at": _iso(d.decided_at),
                    "source_system": d.source_system,
                    "legal_basis": d.legal_basis,
                    "wording_version": d.wording_version,
                    "systems": {
                        system: {
                            "status": s.status,
                            "implicit": s.implicit,
                            "observed_at": _iso(s.observed_at),
                            "not_applied": s.blocked_reason,
                        }
                        for (system, ch, pu), s in sorted(self.systems.items())
                        if (ch, pu) == (d.channel, d.purpose)
                    },
                }
                for d in self.decisions
            ],
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def consent_view(runner: Runner, email: str, *, tenant: str | None = None) -> ConsentView:
    """Consent of the person with this email (found by its keyed hash)."""
    settings = runner.config.consent
    if tenant is None:
        tenant = _tenant(runner, settings) if settings is not None else "default"
    hashed = cstore.email_hash(runner.hasher, email)
    with runner.db.connect() as conn:
        subject = cstore.find_subject(conn, tenant, hashed=hashed)
        if subject is None:
            return ConsentView(known=False)
        customer = cstore.subject_refs(conn, [subject]).get(subject)
        decisions = cstore.load_decisions(conn, [subject]).get(subject, {})
        systems = cstore.load_system_states(conn, [subject])
    return ConsentView(
        known=True,
        customer_id=customer,
        decisions=[decisions[k] for k in sorted(decisions)],
        systems={(sys, ch, pu): s for (_, sys, ch, pu), s in systems.items()},
    )
