"""Workflow rules: react once to each customer transition, through connector actions.

A transition is read by comparing a customer's last snapshot (``insights_customers``) with the
freshly computed insights: a first purchase (``new_customer``), crossing the VIP threshold
(``became_vip``), entering At-Risk (``at_risk``) or Churned (``churned``). Each rule fires once
per transition: a ``rule_firings`` row keyed by customer, rule and transition
(``became_vip:false->true#1``, the n-th such transition of that customer) is written in the
same transaction as the snapshot and the audit event, so a re-run finds the snapshot moved on
and fires nothing. The first refresh of a tenant is a baseline: it records snapshots and fires
nothing, so a backfill does not send every historic VIP a welcome task.

Actions come from :data:`ACTIONS`, a registry of ``name -> handler``; a handler runs one
action of one rule on one CRM for a batch of customers and returns an outcome per customer.
New actions plug in with :func:`register_action`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa

from connectors.base import Connector, SupportsActions, TaskSpec
from connectors.errors import ConnectorError
from connectors.records import WriteResult
from insights.lifecycle import LifecycleStage
from insights.profile import CustomerInsights
from mapping.config import Pipeline, RuleAction, Transition, WorkflowRule
from store import begin_write
from sync.deleted_links import mark_deleted
from sync.retry import RetryPolicy, call

__all__ = [
    "ACTIONS",
    "ActionHandler",
    "Firing",
    "Snapshot",
    "Target",
    "detect",
    "register_action",
    "run_action",
]


@dataclass(frozen=True)
class Snapshot:
    """What the insights last said about a customer (None: never computed)."""

    stage: str | None
    vip: bool | None


@dataclass
class Firing:
    """One rule firing for one customer's transition."""

    customer_key: str
    rule: WorkflowRule
    transition: str
    outcomes: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "; ".join(self.outcomes) or "no action applied"


@dataclass(frozen=True)
class Target:
    """A customers pipeline, its CRM connector and the linked customers' CRM ids."""

    pipeline: Pipeline
    connector: Connector
    crm_ids: Mapping[str, str]
    #: the store, for actions that change links (``archive`` marks them deleted)
    db: sa.Engine | None = None


def detect(prev: Snapshot | None, now: CustomerInsights) -> list[tuple[Transition, str]]:
    """The transitions between ``prev`` and ``now``, each with its ``from->to`` label."""
    before = (prev.stage if prev else None) or LifecycleStage.PROSPECT.value
    was_vip = bool(prev.vip) if prev else False
    stage = now.stage.value
    found: list[tuple[Transition, str]] = []
    if before == LifecycleStage.PROSPECT and stage != LifecycleStage.PROSPECT:
        found.append((Transition.new_customer, f"{before}->{stage}"))
    if not was_vip and now.vip:
        found.append((Transition.became_vip, "false->true"))
    for kind, value in (
        (Transition.at_risk, LifecycleStage.AT_RISK),
        (Transition.churned, LifecycleStage.CHURNED),
    ):
        if stage == value and before != value:
            found.append((kind, f"{before}->{stage}"))
    return found


ActionHandler = Callable[
    [RuleAction, Target, Sequence[str], datetime, Callable[[Callable[[], Any]], Any]],
    dict[str, str],
]
"""``(action, target, customer keys, now, retrying call) -> {customer key: outcome}``."""

ACTIONS: dict[str, ActionHandler] = {}


def register_action(name: str) -> Callable[[ActionHandler], ActionHandler]:
    """Register a rule action handler under ``name`` (the YAML's ``type``)."""

    def wrap(fn: ActionHandler) -> ActionHandler:
        ACTIONS[name] = fn
        return fn

    return wrap


def _outcome(target: Target, action: RuleAction, result: WriteResult) -> str:
    where = f"{target.pipeline.crm.connection}/{action.type}"
    if result.ok:
        return f"{where}: done"
    code = result.error.code if result.error else "FAILED"
    return f"{where}: failed {code}"


def _actions_of(target: Target) -> SupportsActions | None:
    connector = target.connector
    return connector if isinstance(connector, SupportsActions) else None


@register_action("add_to_list")
def _add_to_list(
    action: RuleAction,
    target: Target,
    keys: Sequence[str],
    now: datetime,
    retrying: Callable[[Callable[[], Any]], Any],
) -> dict[str, str]:
    ref = action.targets.get(target.pipeline.crm.connection)
    actions = _actions_of(target)
    if ref is None or actions is None:
        return {}
    list_id = retrying(lambda: actions.resolve_list(ref))
    if list_id is None:
        where = f"{target.pipeline.crm.connection}/{action.type}"
        return dict.fromkeys(keys, f"{where}: failed LIST_NOT_FOUND")
    ids = [target.crm_ids[k] for k in keys]
    results: list[WriteResult] = retrying(lambda: actions.add_to_list(list_id, ids))
    by_id = {r.key: r for r in results}
    return {k: _outcome(target, action, by_id[target.crm_ids[k]]) for k in keys}


@register_action("create_task")
def _create_task(
    action: RuleAction,
    target: Target,
    keys: Sequence[str],
    now: datetime,
    retrying: Callable[[Callable[[], Any]], Any],
) -> dict[str, str]:
    actions = _actions_of(target)
    if actions is None or not action.subject:
        return {}
    task = TaskSpec(
        subject=action.subject,
        body=action.body,
        priority=action.priority,
        due=(now + timedelta(days=action.due_days)).date(),
    )
    out: dict[str, str] = {}
    for key in keys:
        result: WriteResult = retrying(partial(actions.create_task, target.crm_ids[key], task))
        out[key] = _outcome(target, action, result)
    return out


@register_action("archive")
def _archive(
    action: RuleAction,
    target: Target,
    keys: Sequence[str],
    now: datetime,
    retrying: Callable[[Callable[[], Any]], Any],
) -> dict[str, str]:
    connector, obj = target.connector, target.pipeline.crm.object
    results: list[WriteResult] = retrying(lambda: connector.delete(obj, list(keys)))
    by_key = {r.key: r for r in results}
    done = [k for k in keys if k in by_key and by_key[k].ok]
    if done and target.db is not None:
        # deleted on the CRM side by b2sync: a later change must not re-create the contact
        with begin_write(target.db) as conn:
            mark_deleted(conn, target.pipeline.name, done, "crm", now)
    return {k: _outcome(target, action, by_key[k]) for k in keys if k in by_key}


def run_action(
    action: RuleAction,
    target: Target,
    keys: Sequence[str],
    *,
    now: datetime,
    retry: RetryPolicy,
    stop: threading.Event,
) -> dict[str, str]:
    """Run one action for the linked ``keys`` on one CRM; failures become outcomes."""
    linked = [k for k in keys if k in target.crm_ids]
    if not linked:
        return {}

    def retrying(fn: Callable[[], Any]) -> Any:
        return call(fn, what=f"rule action {action.type}", stop=stop, policy=retry)

    try:
        return ACTIONS[action.type](action, target, linked, now, retrying)
    except ConnectorError as exc:
        where = f"{target.pipeline.crm.connection}/{action.type}"
        return dict.fromkeys(linked, f"{where}: failed {exc.code}")
