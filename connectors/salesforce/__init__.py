"""Salesforce connector: simple-salesforce over REST, sObject Collections and Bulk API 2.0.

Streams are sObject API names (``Contact``, ``Account``, ``B2C_Order__c``, ...).
"""

from __future__ import annotations

from connectors.salesforce._auth import AuthSettings
from connectors.salesforce._budget import Budget, SharedOrgBudget
from connectors.salesforce._bulk import parse_bulk_error
from connectors.salesforce._bulk_jobs import JobOutcome, Polling, run_ingest_job, split_csv
from connectors.salesforce._connector import SalesforceConnector
from connectors.salesforce._erase_related import OrderObject, RelatedPolicy
from connectors.salesforce._http import template
from connectors.salesforce._values import InvalidValue, csv_value, json_value, parse_timestamp
from connectors.salesforce.soql import soql_identifier, soql_like, soql_quote

__all__ = [
    "AuthSettings",
    "Budget",
    "InvalidValue",
    "JobOutcome",
    "OrderObject",
    "Polling",
    "RelatedPolicy",
    "SalesforceConnector",
    "SharedOrgBudget",
    "csv_value",
    "json_value",
    "parse_bulk_error",
    "parse_timestamp",
    "run_ingest_job",
    "soql_identifier",
    "soql_like",
    "soql_quote",
    "split_csv",
    "template",
]
