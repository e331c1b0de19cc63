"""Retention: people with no order and no profile change for ``inactive_days`` are purged.

Activity is read from B2Connect itself (the customers feed's ``updatedAt`` and the orders
feed's ``createdAt`` per ``customerId``), so a person counts as active whatever b2sync
synced. ``action: erase`` files one erasure request per person (origin ``retention``: every
system, tombstoned, audited like any erasure); ``action: archive`` archives their CRM
contacts (HubSpot archive, Salesforce Recycle Bin) and forgets the links. People under
legal hold are left alone. Orders are kept unless ``orders`` is dropped from
``exempt_streams``, in which case the person's orders are deleted from the CRMs too. Reports
name customer ids and counts, never an email.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from audit import AuditEvent, record_events
from audit.events import CRM_DELETE
from connectors.records import Record
from consent.erasure.model import Origin, SubjectIds
from consent.erasure.service import Guard, desk_for, no_guard, processor_for
from mapping.config import B2ConnectConnection, Pipeline, RetentionSettings
from store import begin_write
from store.models import metadata
from sync.runner import Runner
from sync.settings import SecretError, resolve

__all__ = ["Person", "RetentionReport", "find_inactive", "run_retention"]

log = structlog.get_logger(__name__)
_keys = metadata.tables["subject_keys"]
_links = metadata.tables["links"]


@dataclass
class Person:
    """What retention knows of one customer (the email stays in memory only)."""

    customer_id: str
    tenant: str
    connection: str
    email: str | None = None
    last_activity: datetime | None = None
    orders: list[str] = field(default_factory=list)
    deleted: bool = False


@dataclass
class RetentionReport:
    """Who was (or would be) affected."""

    action: str
    cutoff: datetime
    scanned: int = 0
    inactive: int = 0
    acted: int = 0
    held: int = 0
    customer_ids: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "cutoff": self.cutoff.isoformat(),
            "scanned": self.scanned,
            "inactive": self.inactive,
            "acted": self.acted,
            "legal_hold": self.held,
            "customer_ids": self.customer_ids,
            "outcomes": dict(self.outcomes),
        }


def _stamp(record: Record, name: str) -> datetime | None:
    raw = record.fields.get(name)
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and raw:
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
    return record.updated_at


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def find_inactive(runner: Runner, settings: RetentionSettings) -> tuple[list[Person], int]:
    """Inactive people of every B2Connect connection, and how many customers were read (the
    runner's connectors hold their connection per page, not for the whole scan)."""
    cutoff = runner.clock() - timedelta(days=settings.inactive_days)
    people: dict[str, Person] = {}
    for name, conn_cfg in runner.config.connections.items():
        if not isinstance(conn_cfg, B2ConnectConnection) or conn_cfg.mode != "delta":
            continue
        tenant = _tenant(conn_cfg)
        shop = runner.connector(name)
        customers = [r for page in shop.read_changes("customers", None) for r in page.records]
        orders = [r for page in shop.read_changes("orders", None) for r in page.records]
        for page in [customers]:
            for record in page:
                person = people.setdefault(record.key, Person(record.key, tenant, name))
                person.deleted = record.deleted
                if not record.deleted:
                    person.email = record.fields.get("email") or person.email
                    person.last_activity = _later(person.last_activity, _stamp(record, "updatedAt"))
        for page in [orders]:
            for record in page:
                owner = people.get(str(record.fields.get("customerId") or ""))
                if owner is None or record.deleted:
                    continue
                owner.last_activity = _later(owner.last_activity, _stamp(record, "createdAt"))
                if record.key not in owner.orders:
                    owner.orders.append(record.key)
    inactive = [
        p
        for p in people.values()
        if not p.deleted and p.last_activity is not None and p.last_activity < cutoff
    ]
    return sorted(inactive, key=lambda p: p.customer_id), len(people)


def _tenant(conn_cfg: B2ConnectConnection) -> str:
    try:
        return resolve(conn_cfg.tenant_id).strip().lower()
    except SecretError:
        return ""


def _held(conn: sa.Connection, runner: Runner, customer_id: str) -> bool:
    if runner.audit_keys is None:
        return False
    digest = runner.audit_keys.subject_hash(customer_id)
    row = conn.execute(sa.select(_keys.c.legal_hold).where(_keys.c.subject_hash == digest)).first()
    return bool(row is not None and row.legal_hold)


def run_retention(
    runner: Runner,
    *,
    dry_run: bool,
    settings: RetentionSettings | None = None,
    guard: Guard = no_guard,
) -> RetentionReport:
    """Apply (or with ``dry_run`` only list) the retention policy."""
    policy = settings or runner.config.retention or RetentionSettings()
    report = RetentionReport(policy.action, runner.clock() - timedelta(days=policy.inactive_days))
    people, report.scanned = find_inactive(runner, policy)
    with runner.db.connect() as conn:
        held = {p.customer_id for p in people if _held(conn, runner, p.customer_id)}
    report.held = len(held)
    chosen = [p for p in people if p.customer_id not in held]
    report.inactive = len(chosen)
    report.customer_ids = [p.customer_id for p in chosen]
    if dry_run or not chosen:
        return report
    if "orders" not in policy.exempt_streams:
        _delete_orders(runner, chosen, report, guard)
    if policy.action == "erase":
        _erase(runner, chosen, report, guard)
    else:
        _archive(runner, chosen, report, guard)
    log.info("retention.applied", action=policy.action, people=report.acted)
    return report


def _erase(runner: Runner, people: list[Person], report: RetentionReport, guard: Guard) -> None:
    desk = desk_for(runner, guard)
    for person in people:
        ids = SubjectIds(email=person.email, customer_id=person.customer_id)
        intake = desk.file(ids, tenant=person.tenant or None, origin=Origin.RETENTION)
        report.outcomes[intake.status] += 1
        report.acted += int(intake.ok)
    processor_for(runner, guard).process()


def _person_pipelines(runner: Runner, stream: str) -> list[Pipeline]:
    return [p for p in runner.config.pipelines if p.enabled and p.b2connect.stream == stream]


def _archive(runner: Runner, people: list[Person], report: RetentionReport, guard: Guard) -> None:
    keys = [p.customer_id for p in people]
    events: list[AuditEvent] = []
    for pipe in _person_pipelines(runner, "customers"):
        with runner.locks.pipeline(pipe.name):  # its links go: no run of it meanwhile
            crm = runner.connector(pipe.crm.connection)
            with guard(pipe.crm.connection):
                results = crm.delete(pipe.crm.object, keys)
            done = [r.key for r in results if r.ok]
            report.outcomes[f"{pipe.name}:archived"] += len(done)
            report.outcomes[f"{pipe.name}:failed"] += len(results) - len(done)
            tenant = runner.tenant_of(pipe)
            events += [_archived(pipe, tenant, key) for key in done]
            with begin_write(runner.db) as conn:
                conn.execute(
                    _links.delete().where(
                        _links.c.pipeline == pipe.name, _links.c.b2connect_key.in_(done)
                    )
                )
                if runner.audit_keys is not None:
                    record_events(conn, events, keys=runner.audit_keys, now=runner.clock())
            events = []
    report.acted = len(people)


def _archived(pipe: Pipeline, tenant: str, key: str) -> AuditEvent:
    return AuditEvent(
        actor="retention",
        tenant_id=tenant,
        action=CRM_DELETE,
        outcome="archived",
        source_system="b2sync",
        target_system=pipe.crm.connection,
        stream=pipe.crm.object,
        record_key=key,
        subject=key,
        details={"reason": "retention: inactive"},
    )


def _delete_orders(
    runner: Runner, people: list[Person], report: RetentionReport, guard: Guard
) -> None:
    orders = [o for p in people for o in p.orders]
    if not orders:
        return
    for pipe in _person_pipelines(runner, "orders"):
        with guard(pipe.crm.connection):
            results = runner.connector(pipe.crm.connection).delete(pipe.crm.object, orders)
        report.outcomes[f"{pipe.name}:orders_deleted"] += sum(1 for r in results if r.ok)
