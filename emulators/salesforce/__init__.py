"""Salesforce emulator: REST, sObject Collections, Bulk API 2.0 and SOQL subsets over TLS."""

from __future__ import annotations

from ._app import SalesforceEmulator

__all__ = ["SalesforceEmulator"]
