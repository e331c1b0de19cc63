"""Static HubSpot facts the connector relies on: streams, limits, association type ids."""

from __future__ import annotations

__all__ = [
    "BATCH_LIMIT",
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
    "SEARCH_IN_LIMIT",
    "SEARCH_PAGE_LIMIT",
    "SEARCH_RESULT_CAP",
    "STREAMS",
    "TEXT_LIMIT",
    "modified_property",
    "property_group",
]

#: the CRM object types this connector syncs (its streams)
STREAMS: tuple[str, ...] = ("contacts", "companies", "deals", "orders", "line_items")

#: the unique property holding the B2Connect key unless a pipeline names another
DEFAULT_ID_PROPERTY = "b2connect_id"

#: inputs per CRM v3 / v4 batch call
BATCH_LIMIT = 100
#: results per search page, and the paging ceiling of one search
SEARCH_PAGE_LIMIT = 200
SEARCH_RESULT_CAP = 10_000
#: values of one ``IN`` filter
SEARCH_IN_LIMIT = 100
#: characters a single-line text / textarea property value may hold
TEXT_LIMIT = 65_536

# HUBSPOT_DEFINED association type ids (hard-coded: the ORDER ones are missing from the 12.0.0
# wheel's AssociationType enum).
CONTACT_TO_COMPANY = 279
COMPANY_TO_CONTACT = 280
DEAL_TO_CONTACT = 3
DEAL_TO_COMPANY = 341
DEAL_TO_LINE_ITEM = 19
ORDER_TO_CONTACT = 507
CONTACT_TO_ORDER = 508
ORDER_TO_COMPANY = 509
ORDER_TO_LINE_ITEM = 513
LINE_ITEM_TO_ORDER = 514

_GROUPS = {
    "contacts": "contactinformation",
    "companies": "companyinformation",
    "deals": "dealinformation",
    "line_items": "lineiteminformation",
    "orders": "orderinformation",
}


def modified_property(stream: str) -> str:
    """The read-only last-modified property: contacts differ from every other object."""
    return "lastmodifieddate" if stream == "contacts" else "hs_lastmodifieddate"


def property_group(stream: str) -> str:
    """The property group a property created by b2sync goes into."""
    return _GROUPS.get(stream, f"{stream.rstrip('s')}information")
