"""The refresh pass: incremental recompute, full passes, population drift, rules once."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from insights.compute import load_population
from insights.ledger import dirty_keys
from mapping.config import RuleAction, WorkflowRule
from store.models import metadata
from tests.insights.factories import NOW, order
from tests.insights.kit import TENANT, add, refresher, snapshot

VIP_RULE = WorkflowRule(
    name="vip",
    when="became_vip",  # type: ignore[arg-type]
    actions=[RuleAction(type="create_task", subject="Welcome")],
)


def _population(n: int) -> list[dict[str, object]]:
    return [
        order(f"p{i}", customer=f"p-{i}", total=str(10 * (i + 1)), days_ago=20) for i in range(n)
    ]


def _firings(db: sa.Engine) -> list[tuple[str, str, str]]:
    table = metadata.tables["rule_firings"]
    with db.connect() as conn:
        rows = conn.execute(sa.select(table.c.customer_key, table.c.rule, table.c.transition))
        return [tuple(r) for r in rows]


def test_first_pass_is_full_and_stores_the_cut_points(sqlite_store_engine: sa.Engine) -> None:
    """Without stored quintiles the pass recomputes everyone and stores them."""
    add(sqlite_store_engine, *_population(10))

    [summary] = refresher(sqlite_store_engine).run(tenants=[TENANT])

    assert summary.full and summary.recomputed == 10
    with sqlite_store_engine.connect() as conn:
        stored = load_population(conn, TENANT)
        assert dirty_keys(conn, TENANT) == []
    assert stored is not None
    assert [str(v) for v in stored[0].monetary] == ["20.00", "40.00", "60.00", "80.00"]


def test_second_pass_recomputes_only_dirty_customers(sqlite_store_engine: sa.Engine) -> None:
    """A new order recomputes its customer only, against the stored quintiles."""
    add(sqlite_store_engine, *_population(40))
    refresh = refresher(sqlite_store_engine)
    refresh.run(tenants=[TENANT])
    add(sqlite_store_engine, order("new", customer="p-3", days_ago=1))

    [summary] = refresh.run(tenants=[TENANT])

    assert not summary.full
    assert summary.recomputed == 1
    assert snapshot(sqlite_store_engine, "p-3")["order_count"] == 2


def test_drift_beyond_the_threshold_forces_a_full_pass(sqlite_store_engine: sa.Engine) -> None:
    """More than population_drift_percent changed customers recompute the cut points."""
    add(sqlite_store_engine, *_population(20))
    refresh = refresher(sqlite_store_engine, population_drift_percent=10)
    refresh.run(tenants=[TENANT])
    add(sqlite_store_engine, *(order(f"n{i}", customer=f"p-{i}", days_ago=1) for i in range(3)))

    [summary] = refresh.run(tenants=[TENANT])

    assert summary.full and summary.recomputed == 20


def test_a_day_after_the_last_full_pass_the_next_is_full(sqlite_store_engine: sa.Engine) -> None:
    """Time moves recency and stages, so a full pass runs at least daily."""
    add(sqlite_store_engine, *_population(5))
    moments = iter([NOW, NOW + timedelta(days=1, minutes=1)])
    refresh = refresher(sqlite_store_engine, clock=lambda: next(moments))
    refresh.run(tenants=[TENANT])

    [summary] = refresh.run(tenants=[TENANT])

    assert summary.full


def test_first_pass_is_a_baseline_without_firings(sqlite_store_engine: sa.Engine) -> None:
    """Historic VIPs found by the first pass get no rule firing."""
    add(sqlite_store_engine, order("big", customer="v-1", total="1500.00", days_ago=3))

    [summary] = refresher(sqlite_store_engine, rules=[VIP_RULE]).run(tenants=[TENANT])

    assert summary.baseline and sum(summary.fired.values()) == 0
    assert _firings(sqlite_store_engine) == []


def test_vip_rule_fires_once_per_transition(sqlite_store_engine: sa.Engine) -> None:
    """Crossing the VIP threshold fires once; re-runs and more orders fire nothing more."""
    add(sqlite_store_engine, order("a", customer="v-1", total="600.00", days_ago=3))
    refresh = refresher(sqlite_store_engine, rules=[VIP_RULE])
    refresh.run(tenants=[TENANT])
    add(sqlite_store_engine, order("b", customer="v-1", total="500.00", days_ago=1))

    [first] = refresh.run(tenants=[TENANT])
    add(sqlite_store_engine, order("c", customer="v-1", total="50.00", days_ago=0))
    [second] = refresh.run(tenants=[TENANT])

    assert first.fired == {"vip": 1}
    assert sum(second.fired.values()) == 0
    assert _firings(sqlite_store_engine) == [("v-1", "vip", "became_vip:false->true#1")]


def test_a_second_vip_episode_fires_again(sqlite_store_engine: sa.Engine) -> None:
    """Dropping out of VIP and crossing again is a new transition (#2)."""
    add(sqlite_store_engine, order("a", customer="v-1", total="600.00", days_ago=3))
    refresh = refresher(sqlite_store_engine, rules=[VIP_RULE])
    refresh.run(tenants=[TENANT])
    add(sqlite_store_engine, order("b", customer="v-1", total="500.00", days_ago=1))
    refresh.run(tenants=[TENANT])
    add(
        sqlite_store_engine,
        order("b", customer="v-1", total="500.00", days_ago=1, status="cancelled"),
    )
    refresh.run(tenants=[TENANT])
    add(sqlite_store_engine, order("c", customer="v-1", total="900.00", days_ago=0))

    refresh.run(tenants=[TENANT])

    transitions = [t for _k, _r, t in _firings(sqlite_store_engine)]
    assert transitions == ["became_vip:false->true#1", "became_vip:false->true#2"]
