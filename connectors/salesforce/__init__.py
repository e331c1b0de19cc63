"""Salesforce connector: simple-salesforce over REST, sObject Collections and Bulk API 2.0.

Streams are sObject API names (``Contact``, ``Account``, ``B2C_Order__c``, ...).
"""

from __future__ import annotations

from connectors.salesforce._auth import AuthSettings
from connectors.salesforce._connector import SalesforceConnector
from connectors.salesforce._erase_related import OrderObject, RelatedPolicy
from connectors.salesforce.soql import soql_identifier, soql_like, soql_quote

__all__ = [
    "AuthSettings",
    "OrderObject",
    "RelatedPolicy",
    "SalesforceConnector",
    "soql_identifier",
    "soql_like",
    "soql_quote",
]
