"""The one door to Salesforce: budget check, error translation, one session renewal.

Every call the connector makes is a function of the client passed to :meth:`Api.call`, so a
renewed session (rotated secret or fresh OAuth login) rebuilds the client and runs the same
function once more. Nothing here sleeps or loops: retries belong to the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import requests
from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.bulk2 import SFBulk2Type
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
)

from connectors.errors import Fatal
from connectors.salesforce._auth import Authenticator
from connectors.salesforce._budget import Budget
from connectors.salesforce._errors import translate
from connectors.salesforce.soql import soql_identifier

__all__ = ["Api", "bulk2", "sobject"]

T = TypeVar("T")


def sobject(sf: Salesforce, name: str) -> SFType:
    """``sf.<name>`` for a checked sObject name."""
    return cast(SFType, getattr(sf, soql_identifier(name)))


def bulk2(sf: Salesforce, name: str) -> SFBulk2Type:
    """``sf.bulk2.<name>`` for a checked sObject name."""
    handler = sf.bulk2
    return cast(SFBulk2Type, getattr(handler, soql_identifier(name)))


class Api:
    """Runs client functions under the budget with vendor errors translated."""

    def __init__(self, auth: Authenticator, budget: Budget) -> None:
        self.auth = auth
        self.budget = budget
        self._sf: Salesforce | None = None

    def call(self, fn: Callable[[Salesforce], T]) -> T:
        """``fn(client)``; on INVALID_SESSION_ID renew the session once and run it again."""
        self.budget.check()
        try:
            return self._run(fn)
        except SalesforceExpiredSession as exc:
            self._sf = None
            if not self.auth.renew():
                raise Fatal(self.auth.expired_message(), code="INVALID_SESSION_ID") from exc
        try:
            return self._run(fn)
        except SalesforceExpiredSession as exc:
            self._sf = None
            raise Fatal(self.auth.expired_message(), code="INVALID_SESSION_ID") from exc

    def _run(self, fn: Callable[[Salesforce], T]) -> T:
        try:
            if self._sf is None:
                self._sf = self.auth.login()
            return fn(self._sf)
        except SalesforceExpiredSession:
            raise
        except (SalesforceError, SalesforceOperationError, requests.RequestException) as exc:
            raise translate(exc, self.budget) from exc

    def forget(self) -> None:
        """Drop the client (the next call builds a new one)."""
        self._sf = None
