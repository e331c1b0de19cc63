"""Pushing recomputed insight fields: linked customers get changed fields, parked ones none."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from connectors.testing import FakeConnector
from insights.compute import Scored, empty_metrics
from insights.lifecycle import LifecycleStage
from insights.profile import CustomerInsights
from insights.push import push_insights
from mapping.config import Pipeline
from sync import state
from sync.hashing import FieldHasher
from sync.plan import PARKED, parked_hashes
from tests.insights.factories import NOW
from tests.insights.kit import SETTINGS, TENANT

HASHER = FieldHasher(b"k" * 32)
PIPE = Pipeline.model_validate(
    {
        "name": "customers",
        "b2connect": {"connection": "shop", "stream": "customers"},
        "crm": {"connection": "hs", "object": "contacts"},
        "fields": [
            {"b2connect": "email", "crm": "email"},
            {"b2connect": "insights.ltv", "crm": "b2c_ltv"},
        ],
    }
)


def _scored(key: str, ltv: str) -> Scored:
    ci = CustomerInsights(
        metrics=empty_metrics(SETTINGS), rfm=None, stage=LifecycleStage.PROSPECT, vip=False,
        segments=(),
    )  # fmt: skip
    return Scored(key, ci, {"ltv": ltv})


def _link(db: sa.Engine, key: str, crm_id: str | None, hashes: dict[str, str]) -> None:
    with db.begin() as conn:
        state.upsert_links(
            conn, pipeline="customers", tenant_id=TENANT, crm_object="contacts",
            rows=[(key, crm_id, hashes, HASHER.record(hashes))], now=NOW,
        )  # fmt: skip


def _push(db: sa.Engine, target: FakeConnector, *scored: Scored) -> Any:
    return push_insights(
        pipe=PIPE, target=target, db=db, hasher=HASHER, tenant_id=TENANT, scored=scored,
        now=NOW, run_id="r", target_system="hubspot",
    )  # fmt: skip


def test_a_parked_customer_gets_its_insight_hashes_without_a_write(
    sqlite_store_engine: sa.Engine,
) -> None:
    """A rejected customer stays parked: its stored hashes follow the insights, no call."""
    email = HASHER.fields({"email": "x@"})
    _link(sqlite_store_engine, "c-1", None, parked_hashes(email, "rejected"))
    target = FakeConnector()

    outcome = _push(sqlite_store_engine, target, _scored("c-1", "120.00"))

    assert target.calls["POST /objects/contacts/batch/upsert"] == 0
    assert outcome.counts["parked"] == 1
    with sqlite_store_engine.connect() as conn:
        link = state.load_links(conn, "customers", ["c-1"])["c-1"]
    assert link.crm_id is None
    assert link.field_hashes[PARKED] == "rejected"
    assert link.field_hashes["b2c_ltv"] == HASHER.fields({"b2c_ltv": "120.00"})["b2c_ltv"]


def test_a_linked_customer_gets_only_its_changed_fields(sqlite_store_engine: sa.Engine) -> None:
    """Changed insight fields go to the CRM; an equal rerun costs no call."""
    _link(sqlite_store_engine, "c-1", "crm-1", HASHER.fields({"email": "a@example.com"}))
    target = FakeConnector()

    _push(sqlite_store_engine, target, _scored("c-1", "120.00"))
    _push(sqlite_store_engine, target, _scored("c-1", "120.00"))

    assert target.calls["POST /objects/contacts/batch/upsert"] == 1
    assert target.objects["contacts"]["crm-1"]["b2c_ltv"] == "120.00"
