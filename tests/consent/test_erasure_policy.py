"""The ``erasure:`` policy: parsed from the YAML and turned into what Salesforce's step removes."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.salesforce import OrderObject
from consent.erasure.related import salesforce_policy, unreachable_orders
from mapping.config import Config, ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "config.yaml").read_text(encoding="utf-8")


def _config(extra: str = "", text: str = SHIPPED) -> Config:
    return parse_config(text + extra, "config.yaml")


def test_defaults_keep_orders_and_delete_consent_records() -> None:
    """Without an erasure section orders are kept (invoices: 10 years), consent records go."""
    policy = salesforce_policy(_config(), "salesforce")
    assert policy.orders == ()
    assert policy.consent_records is True


def test_orders_delete_finds_the_order_object_its_contact_lookup_and_lines() -> None:
    """orders: delete names the orders pipeline's sObject, Contact lookup and line object."""
    config = _config("\nerasure:\n  salesforce: {orders: delete, consent_records: keep}\n")
    policy = salesforce_policy(config, "salesforce")
    assert policy.orders == (
        OrderObject("B2C_Order__c", "Contact__c", (("B2C_Order_Line__c", "Order__c"),)),
    )
    assert policy.consent_records is False
    assert unreachable_orders(config, "salesforce") == []


def test_an_orders_pipeline_without_a_contact_lookup_is_reported() -> None:
    """An orders pipeline that never links its records to a Contact cannot be traced."""
    text = SHIPPED.replace(
        "      - {b2connect: customerId, crm: Contact__c, transform: [{link: customers-to-salesforce}]}\n",
        "",
    )
    config = _config("\nerasure:\n  salesforce: {orders: delete}\n", text)
    assert salesforce_policy(config, "salesforce").orders == ()
    assert unreachable_orders(config, "salesforce") == ["orders-to-salesforce"]


def test_hubspot_connections_get_no_salesforce_objects() -> None:
    """Only orders pipelines of the named Salesforce connection count."""
    config = _config("\nerasure:\n  salesforce: {orders: delete}\n")
    assert salesforce_policy(config, "hubspot").orders == ()


def test_an_unknown_policy_value_is_a_config_error() -> None:
    """orders accepts keep or delete only."""
    with pytest.raises(ConfigError, match="orders"):
        _config("\nerasure:\n  salesforce: {orders: purge}\n")
