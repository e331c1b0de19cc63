"""simple-salesforce and requests exceptions to the connector error tree.

::

    403 REQUEST_LIMIT_EXCEEDED (daily)      -> BudgetExhausted (pause an hour)
    403 REQUEST_LIMIT_EXCEEDED (concurrent) -> Retriable (too many long calls at once)
    other 403, 400 config codes, 404, auth  -> Fatal (what to do in the message)
    429, 409, 5xx, connection, timeout      -> Retriable
    400 record-level codes                  -> per-record failures (see RECORD_CODES)

Messages carry vendor codes and messages but never request or response bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceBulkV2ExtractError,
    SalesforceBulkV2LoadError,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceOperationError,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.errors import ConnectorError, Fatal, Retriable
from connectors.salesforce._budget import Budget

__all__ = [
    "RECORD_CODES",
    "RETRIABLE_CODES",
    "error_code",
    "error_fields",
    "error_message",
    "translate",
]

#: Codes that describe a problem with the records sent, not with the call or the config.
RECORD_CODES = frozenset(
    {
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
        "DUPLICATE_EXTERNAL_ID",
        "DUPLICATE_VALUE",
        "DUPLICATES_DETECTED",
        "ENTITY_IS_DELETED",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "FIELD_INTEGRITY_EXCEPTION",
        "INVALID_CROSS_REFERENCE_KEY",
        "INVALID_EMAIL_ADDRESS",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "MALFORMED_ID",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "REQUIRED_FIELD_MISSING",
        "STRING_TOO_LONG",
        "UNABLE_TO_LOCK_ROW",
    }
)
#: Record-level codes worth retrying later (row-lock contention, rolled-back neighbours).
RETRIABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "ALL_OR_NONE_OPERATION_ROLLED_BACK"})


def _first_error(content: Any) -> dict[str, Any]:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0]
    if isinstance(content, dict):
        return content
    return {}


def error_code(exc: SalesforceError) -> str:
    """The ``errorCode`` of a REST error body (``UNKNOWN`` when the body has none)."""
    return str(_first_error(exc.content).get("errorCode") or "UNKNOWN")


def error_message(exc: SalesforceError) -> str:
    """The vendor's message of a REST error body."""
    return str(_first_error(exc.content).get("message") or f"HTTP {exc.status}")


def error_fields(exc: SalesforceError) -> list[str]:
    """The ``fields`` of a REST error body."""
    fields = _first_error(exc.content).get("fields") or []
    return [str(f) for f in fields] if isinstance(fields, list) else []


def _refused(exc: SalesforceRefusedRequest, budget: Budget) -> ConnectorError:
    code, message = error_code(exc), error_message(exc)
    if code == "REQUEST_LIMIT_EXCEEDED":
        if "ConcurrentPerOrg" in message:
            return Retriable(
                f"Salesforce refused the call: too many long-running requests at once ({message})",
                code=code,
                retry_after=30.0,
            )
        return budget.pause("limit")
    return Fatal(
        f"Salesforce refused the call ({code}: {message}); give the integration user the "
        "permission it needs (API Enabled, object and field access) or check the org's IP "
        "restrictions",
        code=code,
    )


def _general(exc: SalesforceGeneralError) -> ConnectorError:
    code = error_code(exc)
    if exc.status in {409, 429} or exc.status >= 500:
        return Retriable(f"Salesforce answered HTTP {exc.status} ({code})", code=code)
    return Fatal(
        f"Salesforce answered HTTP {exc.status} ({code}: {error_message(exc)}); check the "
        "connection's instance_url and api_version",
        code=code,
    )


def _operation(exc: SalesforceOperationError) -> ConnectorError:
    text = str(exc)
    if "timeout" in text.lower():
        return Retriable("a Salesforce Bulk API job did not finish in time", code="BULK_TIMEOUT")
    if isinstance(exc, SalesforceBulkV2LoadError | SalesforceBulkV2ExtractError):
        return Fatal(f"Salesforce refused the Bulk API data: {text}", code="BULK_LOAD")
    return Fatal(
        f"a Salesforce Bulk API job failed: {text}; check the object's fields and the "
        "integration user's Bulk API permissions",
        code="BULK_JOB_FAILED",
    )


def _auth_failed(exc: SalesforceAuthenticationFailed) -> ConnectorError:
    return Fatal(
        f"Salesforce login failed ({exc.code}: {exc.auth_message}); check the connected "
        "app's client id, secret or certificate, the username and auth.domain",
        code="AUTHENTICATION_FAILED",
    )


def _expired(_exc: SalesforceExpiredSession) -> ConnectorError:
    return Fatal(
        "Salesforce session expired or invalid (INVALID_SESSION_ID); provide a fresh "
        "session id or use client_credentials/jwt auth so b2sync can log in itself",
        code="INVALID_SESSION_ID",
    )


def _not_found(exc: SalesforceResourceNotFound) -> ConnectorError:
    return Fatal(
        f"Salesforce has no resource {exc.resource_name!r} ({error_code(exc)}); check the "
        "object name, that the object is deployed and that the user can see it",
        code=error_code(exc),
    )


def _malformed(exc: SalesforceError) -> ConnectorError:
    code = error_code(exc)
    return Fatal(
        f"Salesforce rejected the request ({code}: {error_message(exc)}); run "
        "`b2sync check` to compare the mapping with the org's objects and fields",
        code=code,
    )


def _tls(_exc: Exception) -> ConnectorError:
    return Fatal(
        "TLS verification of Salesforce failed; check the connection's ca_file and instance_url",
        code="TLS",
    )


def _timeout(_exc: Exception) -> ConnectorError:
    return Retriable("Salesforce did not answer in time", code="TIMEOUT")


def _unreachable(exc: Exception) -> ConnectorError:
    return Retriable(f"cannot reach Salesforce: {type(exc).__name__}", code="CONNECTION")


# First match wins: subclasses before their bases.
_HANDLERS: tuple[tuple[type[Exception], Callable[[Any], ConnectorError]], ...] = (
    (SalesforceAuthenticationFailed, _auth_failed),
    (SalesforceExpiredSession, _expired),
    (SalesforceResourceNotFound, _not_found),
    (SalesforceMalformedRequest, _malformed),
    (SalesforceMoreThanOneRecord, _malformed),
    (SalesforceGeneralError, _general),
    (SalesforceOperationError, _operation),
    (requests.exceptions.SSLError, _tls),
    (requests.Timeout, _timeout),
    (requests.RequestException, _unreachable),
)


def translate(exc: Exception, budget: Budget) -> ConnectorError:
    """The connector error for a vendor or transport exception (use with ``raise ... from``)."""
    if isinstance(exc, SalesforceRefusedRequest):
        return _refused(exc, budget)
    for kind, handler in _HANDLERS:
        if isinstance(exc, kind):
            return handler(exc)
    return Fatal(f"unexpected Salesforce client error: {type(exc).__name__}", code="UNKNOWN")
