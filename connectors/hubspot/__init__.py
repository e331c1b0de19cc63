"""HubSpot connector: CRM v3 objects through hubspot-api-client (upsert, search, GDPR delete)."""

from __future__ import annotations

from connectors.hubspot._connector import HubSpotConnector
from connectors.hubspot._consent import from_hubspot_basis, to_hubspot_basis
from connectors.hubspot._governor import RateGovernor
from connectors.hubspot._types import (
    COMPANY_TO_CONTACT,
    CONTACT_TO_COMPANY,
    CONTACT_TO_ORDER,
    DEAL_TO_COMPANY,
    DEAL_TO_CONTACT,
    DEAL_TO_LINE_ITEM,
    DEFAULT_ID_PROPERTY,
    LINE_ITEM_TO_ORDER,
    ORDER_TO_COMPANY,
    ORDER_TO_CONTACT,
    ORDER_TO_LINE_ITEM,
    STREAMS,
)
from connectors.hubspot._values import to_text

__all__ = [
    "COMPANY_TO_CONTACT",
    "CONTACT_TO_COMPANY",
    "CONTACT_TO_ORDER",
    "DEAL_TO_COMPANY",
    "DEAL_TO_CONTACT",
    "DEAL_TO_LINE_ITEM",
    "DEFAULT_ID_PROPERTY",
    "LINE_ITEM_TO_ORDER",
    "ORDER_TO_COMPANY",
    "ORDER_TO_CONTACT",
    "ORDER_TO_LINE_ITEM",
    "STREAMS",
    "HubSpotConnector",
    "RateGovernor",
    "from_hubspot_basis",
    "to_hubspot_basis",
    "to_text",
]
