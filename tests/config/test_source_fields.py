"""The vocabulary source-field checks use stays in step with what it describes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from connectors.b2connect import nested_fields, schema_of
from insights.compute import empty_metrics, insight_fields
from insights.lifecycle import LifecycleStage
from insights.profile import CustomerInsights
from mapping.config import INSIGHT_FIELDS, InsightsConfig
from sync.source_fields import path_problem
from tests.insights.factories import NOW

SPEC = Path(__file__).resolve().parents[2] / "docs" / "b2connect-integration-api.yaml"


def _schemas() -> dict[str, Any]:
    spec = YAML(typ="safe").load(SPEC.read_text(encoding="utf-8"))
    return dict(spec["components"]["schemas"])


def test_insight_field_names_are_the_ones_insights_computes() -> None:
    """INSIGHT_FIELDS lists exactly the names insight_fields fills."""
    config = InsightsConfig()
    ci = CustomerInsights(
        metrics=empty_metrics(config), rfm=None, stage=LifecycleStage.PROSPECT, vip=False,
        segments=frozenset(),
    )  # fmt: skip
    assert set(INSIGHT_FIELDS) == set(insight_fields(ci, now=NOW, config=config))


@pytest.mark.parametrize(
    ("stream", "schema"),
    [("customers", "Customer"), ("companies", "Company"), ("orders", "Order")],
)
def test_stream_fields_follow_the_contract(stream: str, schema: str) -> None:
    """Every property of the contract's record schema is a known field of the stream."""
    assert set(_schemas()[schema]["properties"]) == set(schema_of(stream).fields)


@pytest.mark.parametrize(
    ("stream", "field", "schema"),
    [
        ("customers", "billingAddress", "Address"),
        ("companies", "addresses", "CompanyAddress"),
        ("orders", "items", "OrderItem"),
        ("orders", "returns", "OrderReturn"),
        ("orders", "statusHistory", "StatusHistoryEntry"),
    ],
)
def test_nested_fields_follow_the_contract(stream: str, field: str, schema: str) -> None:
    """The fields inside addresses and order items are the contract's."""
    assert set(nested_fields(stream, field) or ()) == set(_schemas()[schema]["properties"])


@pytest.mark.parametrize(
    ("stream", "path", "hint"),
    [
        ("customers", "fristName", "did you mean 'firstName'?"),
        ("customers", "billingAddress.cty", "did you mean 'billingAddress.city'?"),
        ("customers", "insights.ltvv", "did you mean 'insights.ltv'?"),
        ("orders", "insights.ltv", "customers only"),
        ("customers", "email.domain", "has no fields"),
    ],
)
def test_unknown_paths_are_named_with_a_hint(stream: str, path: str, hint: str) -> None:
    """A wrong path says what is wrong and what was probably meant."""
    problem = path_problem(stream, path)
    assert problem is not None and hint in problem


@pytest.mark.parametrize(
    ("stream", "path"),
    [("customers", "billingAddress.countryCode"), ("customers", "insights.vip"), ("orders", "id")],
)
def test_known_paths_pass(stream: str, path: str) -> None:
    """Fields, paths into objects and insights fields of customers are accepted."""
    assert path_problem(stream, path) is None
