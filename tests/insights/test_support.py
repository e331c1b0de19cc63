"""The support table: replace-per-source, dirty marking, signals, churn-risk and lead points,
and erasure."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from connectors.base import Touchpoint
from insights.compute import aggregate_metrics, score_customers
from insights.ledger import CUSTOMERS, dirty_keys, forget_customer
from insights.lifecycle import CustomerSegment, PopulationThresholds
from insights.support import SUPPORT, record_touchpoints, support_signals
from mapping.config import InsightsConfig
from tests.insights.factories import NOW, order
from tests.insights.kit import TENANT, add

OLD = NOW - timedelta(days=200)


def _tickets(*closed: bool, at: datetime = NOW) -> list[Touchpoint]:
    return [Touchpoint("ticket", f"t{i}", at, closed=c) for i, c in enumerate(closed)]


def test_rows_are_replaced_per_source_and_only_changes_mark_dirty(
    sqlite_store_engine: sa.Engine,
) -> None:
    """A second identical read changes nothing; a closed ticket or a new answer does."""
    read = {"c-1": _tickets(False, False), "c-2": []}
    with sqlite_store_engine.begin() as conn:
        first = record_touchpoints(conn, TENANT, "hubspot", read)
        conn.execute(sa.update(CUSTOMERS).values(dirty=False))
        again = record_touchpoints(conn, TENANT, "hubspot", read)
        later = record_touchpoints(
            conn,
            TENANT,
            "hubspot",
            {"c-1": [*_tickets(False, True), Touchpoint("nps", "n1", NOW, True, 9)], "c-2": []},
        )
        record_touchpoints(conn, TENANT, "salesforce", {"c-1": _tickets(False, at=OLD)})
        signals = support_signals(conn, TENANT, ["c-1", "c-2"], now=NOW, days=90)
        dirty = dirty_keys(conn, TENANT)

    assert (first, again, later) == ({"c-1"}, set(), {"c-1"})
    assert dirty == ["c-1"]
    c1 = signals["c-1"]
    # hubspot: t0 open, t1 closed, an answer; salesforce: t0 open but 200 days old
    assert (c1.open_tickets, c1.recent_tickets, c1.nps_score, c1.nps_category) == (
        2, 2, 9, "promoter",
    )  # fmt: skip
    assert "c-2" not in signals


def test_unhappy_buyers_are_churn_risk_and_lose_lead_points(
    sqlite_store_engine: sa.Engine,
) -> None:
    """A detractor and a customer with 3 open tickets are Churn-Risk; configured lead points
    apply; a happy customer is neither."""
    for key in ("sad", "busy", "fine"):
        add(sqlite_store_engine, order(f"o-{key}", customer=key, days_ago=5))
    with sqlite_store_engine.begin() as conn:
        record_touchpoints(conn, TENANT, "hubspot", {
            "sad": [Touchpoint("nps", "n1", NOW, True, 4)],
            "busy": _tickets(False, False, False),
            "fine": [Touchpoint("nps", "n2", NOW, True, 10), *_tickets(False)],
        })  # fmt: skip
    config = InsightsConfig.model_validate(
        {"lead_points": {"nps_detractor": -25, "open_ticket": -5, "nps_promoter": 10}}
    )
    with sqlite_store_engine.connect() as conn:
        metrics, _ = aggregate_metrics(conn, TENANT, now=NOW, settings=config)
        signals = support_signals(conn, TENANT, None, now=NOW, days=90)
    cut = PopulationThresholds((Decimal(0),) * 4, Decimal(0))
    scored = score_customers(["sad", "busy", "fine"], metrics, {}, population=cut, now=NOW,
                             config=config, support=signals)  # fmt: skip
    captured = {s.key: s for s in scored}

    assert CustomerSegment.CHURN_RISK in captured["sad"].insights.segments
    assert CustomerSegment.CHURN_RISK in captured["busy"].insights.segments
    assert CustomerSegment.CHURN_RISK not in captured["fine"].insights.segments
    base = captured["fine"].fields["lead_score"] - 10 + 5  # fine: promoter +10, 1 ticket -5
    assert captured["sad"].fields["lead_score"] == base - 25
    assert captured["busy"].fields["lead_score"] == base - 15


def test_erasure_forgets_the_support_rows(sqlite_store_engine: sa.Engine) -> None:
    """Forgetting a customer drops their tickets and answers with the rest of their state."""
    with sqlite_store_engine.begin() as conn:
        record_touchpoints(conn, TENANT, "hubspot", {"c-1": _tickets(False), "c-2": _tickets(True)})
        forget_customer(conn, TENANT, "c-1")
        left = conn.execute(sa.select(SUPPORT.c.customer_key)).scalars().all()
    assert left == ["c-2"]
