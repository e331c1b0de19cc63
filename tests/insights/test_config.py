"""The ``insights:`` section of config.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mapping.config import InsightsConfig, RuleAction, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_has_insights_rules_and_mappings() -> None:
    """config.yaml turns insights on, names four rules and maps insights.* on both CRMs."""
    cfg = parse_config((ROOT / "config.yaml").read_text(encoding="utf-8"), "config.yaml")
    assert cfg.insights.enabled
    assert [r.when.value for r in cfg.insights.rules] == [
        "new_customer", "became_vip", "at_risk", "churned",
    ]  # fmt: skip
    for name in ("customers-to-hubspot", "customers-to-salesforce"):
        sources = {f.b2connect for f in cfg.pipeline(name).fields}
        assert {"insights.ltv", "insights.vip", "insights.rfm_segment"} <= sources


def test_defaults_are_the_playbook() -> None:
    """Without a section, the playbook's thresholds apply."""
    cfg = InsightsConfig()
    assert (cfg.vip_threshold, cfg.at_risk_days, cfg.churned_days) == (1000, 90, 180)
    assert cfg.rules == []


def test_add_to_list_needs_targets() -> None:
    """A list action without list names is refused with the fix."""
    with pytest.raises(ValidationError, match="targets"):
        RuleAction(type="add_to_list")


def test_rule_names_are_unique() -> None:
    """Two rules with one name are refused (firings are keyed by rule name)."""
    rule = {"name": "vip", "when": "became_vip", "actions": [{"type": "archive"}]}
    with pytest.raises(ValidationError, match="unique"):
        InsightsConfig.model_validate({"rules": [rule, rule]})


def test_loyalty_tiers_must_increase() -> None:
    """Silver < gold < platinum."""
    with pytest.raises(ValidationError, match="loyalty"):
        InsightsConfig.model_validate({"loyalty": {"silver": 500, "gold": 400}})
