"""Workflow rules: transitions detected from snapshots, and the action registry."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.base import TaskSpec
from connectors.records import WriteResult
from insights.history import score
from insights.lifecycle import PopulationThresholds
from insights.metrics import customer_metrics
from insights.profile import CustomerInsights
from insights.rules import ACTIONS, Snapshot, Target, detect, register_action, run_action
from mapping.config import Config, RuleAction, Transition
from sync.retry import RetryPolicy
from tests.insights.factories import NOW, order
from tests.insights.kit import SETTINGS

ZERO = Decimal(0)
POPULATION = PopulationThresholds((ZERO, ZERO, ZERO, ZERO), ZERO)
CONFIG = Config.model_validate(
    {
        "connections": {"hs": {"type": "hubspot", "url": "http://127.0.0.1:1", "token": "${T}"}},
        "pipelines": [
            {
                "name": "customers",
                "b2connect": {"connection": "hs", "stream": "customers"},
                "crm": {"connection": "hs", "object": "contacts"},
                "fields": [{"b2connect": "email", "crm": "email"}],
            }
        ],
    }
)


def _insights(*orders: dict[str, Any]) -> CustomerInsights:
    return score(customer_metrics(orders, now=NOW, settings=SETTINGS), NOW, POPULATION, SETTINGS)


class Crm:
    """A CRM double with the actions capability, recording what it was asked."""

    def __init__(self) -> None:
        self.lists: dict[str, list[str]] = {}
        self.tasks: list[tuple[str, TaskSpec]] = []

    def resolve_list(self, ref: str) -> str | None:
        return {"VIP": "7"}.get(ref)

    def add_to_list(self, list_id: str, crm_ids: Sequence[str]) -> list[WriteResult]:
        self.lists.setdefault(list_id, []).extend(crm_ids)
        return [WriteResult.success(i, i) for i in crm_ids]

    def create_task(self, crm_id: str, task: TaskSpec) -> WriteResult:
        self.tasks.append((crm_id, task))
        return WriteResult.success(crm_id, "task-1", created=True)


def _run(action: RuleAction, crm: Crm, keys: list[str]) -> dict[str, str]:
    target = Target(CONFIG.pipelines[0], crm, {"k1": "101", "k2": "102"})  # type: ignore[arg-type]
    return run_action(action, target, keys, now=NOW, retry=RetryPolicy(), stop=threading.Event())


def test_first_purchase_is_a_new_customer() -> None:
    """Prospect → customer is the new_customer transition."""
    found = detect(Snapshot("prospect", False), _insights(order("o1", days_ago=2)))
    assert found == [(Transition.new_customer, "prospect->customer")]


def test_crossing_the_vip_threshold_is_became_vip() -> None:
    """A VIP now who was not before."""
    now = _insights(order("o1", total="700"), order("o2", total="400"))
    assert (Transition.became_vip, "false->true") in detect(Snapshot("active", False), now)


def test_staying_vip_is_no_transition() -> None:
    """Nothing fires while nothing changes."""
    now = _insights(order("o1", total="700"), order("o2", total="400"))
    assert detect(Snapshot("active", True), now) == []


def test_ninety_days_without_order_is_at_risk() -> None:
    """Active → at-risk after the at-risk period."""
    now = _insights(order("o1", days_ago=100), order("o2", days_ago=95))
    assert detect(Snapshot("active", False), now) == [(Transition.at_risk, "active->at_risk")]


def test_half_a_year_without_order_is_churned() -> None:
    """At-risk → churned after the churn period."""
    now = _insights(order("o1", days_ago=200))
    assert detect(Snapshot("at_risk", False), now) == [(Transition.churned, "at_risk->churned")]


def test_add_to_list_resolves_the_list_by_name() -> None:
    """The YAML names the list; the connector's id is used; outcome per customer."""
    crm = Crm()
    action = RuleAction(type="add_to_list", targets={"hs": "VIP"})

    outcomes = _run(action, crm, ["k1", "k2", "unlinked"])

    assert crm.lists == {"7": ["101", "102"]}
    assert outcomes == {"k1": "hs/add_to_list: done", "k2": "hs/add_to_list: done"}


def test_unknown_list_fails_each_customer_clearly() -> None:
    """A list that does not exist is reported, not raised."""
    action = RuleAction(type="add_to_list", targets={"hs": "Nope"})
    assert _run(action, Crm(), ["k1"]) == {"k1": "hs/add_to_list: failed LIST_NOT_FOUND"}


def test_create_task_carries_subject_priority_and_due_date() -> None:
    """One task per customer on its contact, due after due_days."""
    crm = Crm()
    action = RuleAction(type="create_task", subject="Call", priority="high", due_days=2)

    _run(action, crm, ["k1"])

    [(crm_id, task)] = crm.tasks
    assert (crm_id, task.subject, task.priority) == ("101", "Call", "high")
    assert task.due == datetime(2026, 7, 2).date()


def test_new_actions_plug_into_the_registry() -> None:
    """A registered handler runs for its type name."""
    seen: list[list[str]] = []
    original = ACTIONS["archive"]

    @register_action("archive")
    def record(action: RuleAction, target: Target, keys: Sequence[str], now: datetime,
               retrying: Any) -> dict[str, str]:  # fmt: skip
        seen.append(list(keys))
        return dict.fromkeys(keys, "custom: done")

    try:
        assert _run(RuleAction(type="archive"), Crm(), ["k2"]) == {"k2": "custom: done"}
    finally:
        ACTIONS["archive"] = original
    assert seen == [["k2"]]


def test_archive_marks_the_link_deleted_in_the_crm(sqlite_store_engine: Any) -> None:
    """Archived contacts keep a link marked deleted (side crm): no later push re-creates them."""
    from connectors.records import WriteItem
    from connectors.testing import FakeConnector
    from sync import state
    from sync.deleted_links import deleted_links

    crm = FakeConnector()
    [written] = crm.write("contacts", [WriteItem("k1", {"email": "a@example.com"})])
    with sqlite_store_engine.begin() as conn:
        state.upsert_links(
            conn, pipeline="customers", tenant_id="t", crm_object="contacts",
            rows=[("k1", written.crm_id, {}, "h")], now=NOW,
        )  # fmt: skip
    target = Target(CONFIG.pipelines[0], crm, {"k1": str(written.crm_id)}, sqlite_store_engine)

    outcome = run_action(
        RuleAction(type="archive"), target, ["k1"], now=NOW, retry=RetryPolicy(),
        stop=threading.Event(),
    )  # fmt: skip

    assert outcome == {"k1": "hs/archive: done"}
    with sqlite_store_engine.connect() as conn:
        [mark] = deleted_links(conn, "customers", ["k1"]).values()
    assert (mark.deleted_in, mark.crm_id) == ("crm", written.crm_id)
