"""Config of deletes (`on_delete`, `delete_breaker`): validation with positions, schema, status."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import pytest
import sqlalchemy as sa
from ruamel.yaml import YAML

from b2sync.service import Metrics, pipeline_status
from mapping.config import ConfigError, json_schema, parse_config
from sync.breaker import BreakerTrip, record_trip
from tests.config.test_loader import MINIMAL

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def with_lines(*lines: str) -> str:
    extra = "".join(f"    {line}\n" for line in lines)
    return MINIMAL.replace("    fields:\n", extra + "    fields:\n", 1)


def issues_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "x.yaml")
    return [str(i) for i in info.value.issues]


def test_unknown_policy_is_reported_at_its_line() -> None:
    """A policy that does not exist is reported with file:line:column and the key path."""
    [issue] = issues_of(with_lines("on_delete: destroy"))
    assert issue.startswith("x.yaml:15:")
    assert "pipelines[0].on_delete" in issue


def test_unknown_direction_key_is_reported_at_its_line() -> None:
    """A misspelt direction inside the per-direction mapping points at that key."""
    [issue] = issues_of(with_lines("on_delete:", "  to_crm: archive", "  to_shop: delete"))
    assert issue.startswith("x.yaml:17:")
    assert "to_shop" in issue


def test_breaker_share_above_one_is_refused_at_its_line() -> None:
    """delete_breaker.max_share must be a share (0 < share <= 1)."""
    [issue] = issues_of(with_lines("delete_breaker: {max_count: 5, max_share: 1.5}"))
    assert issue.startswith("x.yaml:15:")
    assert "delete_breaker.max_share" in issue


def test_both_forms_validate_against_the_json_schema() -> None:
    """The exported schema accepts the scalar and the per-direction form, rejects others."""
    validator = jsonschema.Draft202012Validator(json_schema())
    yaml = YAML(typ="safe")
    for good in (
        "on_delete: archive",
        "on_delete: {to_crm: delete, to_b2connect: archive}",
    ):
        validator.validate(yaml.load(with_lines(good, "delete_breaker: {max_count: 3}")))
    assert not validator.is_valid(yaml.load(with_lines("on_delete: purge")))


def test_status_and_metric_show_a_tripped_breaker(tmp_path: object) -> None:
    """pipeline_status carries the trip; the gauge b2sync_delete_breaker_tripped is 1."""
    from store import make_engine, upgrade

    engine: sa.Engine = make_engine(f"sqlite:///{tmp_path}/state.db")
    upgrade(engine)
    config = parse_config(MINIMAL)
    record_trip(engine, BreakerTrip("people", "to_crm", 40, 100, 10, NOW))
    with engine.connect() as conn:
        [row] = pipeline_status(conn, config.pipelines, NOW)
    assert row["delete_breaker"]["deletes"] == 40
    metrics = Metrics(lambda: engine, lambda: list(config.pipelines), lambda: NOW)
    assert b'b2sync_delete_breaker_tripped{pipeline="people"} 1.0' in metrics.render()
