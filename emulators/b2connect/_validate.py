"""Field rules for write-backs and admin edits: unknown, read-only and mistyped fields -> 400."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from emulators._base import HttpError
from emulators.b2connect._common import (
    CONSENT_CHANNELS,
    CONSENT_PURPOSES,
    CONSENT_STATUSES,
    CUSTOMER_TYPES,
    ERASURE_STATUSES,
    LEGAL_BASES,
    ORDER_STATUSES,
    PAYMENT_STATUSES,
    is_guid,
    iso,
    parse_iso,
)

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LANG_RE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class F:
    """One field's rule: its kind, maximum length, whether null is allowed, allowed values."""

    kind: str
    max_len: int | None = None
    nullable: bool = True
    choices: tuple[str, ...] = ()


ADDRESS = {
    "street1": F("str", 500),
    "street2": F("str", 500),
    "city": F("str", 100),
    "state": F("str", 100),
    "postalCode": F("str", 20),
    "countryCode": F("country"),
}

CUSTOMER_FIELDS = {
    "email": F("email", 255, nullable=False),
    "firstName": F("str", 100),
    "lastName": F("str", 100),
    "salutation": F("str", 20),
    "phone": F("str", 50),
    "mobile": F("str", 50),
    "companyId": F("guid"),
    "customerType": F("enum", choices=CUSTOMER_TYPES, nullable=False),
    "language": F("lang", nullable=False),
    "currency": F("currency", nullable=False),
    "isActive": F("bool", nullable=False),
    "billingAddress": F("address"),
    "shippingAddress": F("address"),
}
CUSTOMER_READONLY = frozenset({"id", "tenantId", "customerNumber", "createdAt", "updatedAt"})

COMPANY_FIELDS = {
    "name": F("str", 200, nullable=False),
    "vatId": F("str", 30),
    "taxId": F("str", 30),
    "website": F("str", 255),
    "email": F("email", 255),
    "phone": F("str", 50),
    "customerType": F("enum", choices=CUSTOMER_TYPES, nullable=False),
    "language": F("lang", nullable=False),
    "currency": F("currency", nullable=False),
    "isActive": F("bool", nullable=False),
    "billingAddress": F("address"),
    "shippingAddress": F("address"),
}
COMPANY_READONLY = frozenset(
    {"id", "tenantId", "customerNumber", "addresses", "createdAt", "updatedAt"}
)

CONSENT_FIELDS = {
    "subjectId": F("guid"),
    "email": F("email", 255),
    "channel": F("enum", choices=CONSENT_CHANNELS, nullable=False),
    "purpose": F("enum", choices=CONSENT_PURPOSES, nullable=False),
    "status": F("enum", choices=CONSENT_STATUSES, nullable=False),
    "legalBasis": F("enum", choices=LEGAL_BASES),
    "source": F("str", 100),
    "capturedAt": F("datetime"),
    "wordingVersion": F("str", 50),
    "ipAddress": F("ip"),
}

ERASURE_FIELDS = {
    "subjectId": F("guid"),
    "email": F("str", 255),
    "reason": F("str", 500),
    "source": F("str", 100),
    "requestedAt": F("datetime"),
}
ERASURE_PATCH_FIELDS = {
    "status": F("enum", choices=ERASURE_STATUSES, nullable=False),
    "note": F("str", 500),
}

_SHIP_BILL = {
    f"{side}{part}": F("str", 2 if part == "Country" else 200)
    for side in ("shipping", "billing")
    for part in (
        "FirstName",
        "LastName",
        "Company",
        "Street",
        "City",
        "PostalCode",
        "Country",
        "Phone",
    )
}
ORDER_ADMIN_FIELDS = {
    "status": F("enum", choices=ORDER_STATUSES, nullable=False),
    "paymentStatus": F("enum", choices=PAYMENT_STATUSES, nullable=False),
    "orderNumber": F("str", 50, nullable=False),
    "customerEmail": F("str", 255, nullable=False),
    "paymentMethod": F("str", 20, nullable=False),
    "paymentProvider": F("str", 50),
    "transactionId": F("str", 100),
    "notes": F("str", 1000),
    "discountCode": F("str", 100),
    "source": F("str", 100),
    **_SHIP_BILL,
}


def validate(
    body: Any,
    fields: dict[str, F],
    *,
    readonly: frozenset[str] = frozenset(),
    required: tuple[str, ...] = (),
    extra_ok: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Check a JSON object against ``fields``; the cleaned values, or a 400 listing every error.

    ``extra_ok`` names keys accepted without checks (the admin API's ``deleted`` flag).
    """
    if not isinstance(body, dict):
        raise HttpError(400, "VALIDATION", "The request body must be a JSON object.")
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for name in required:
        if body.get(name) is None:
            errors.setdefault(name, []).append(f"The {name} field is required.")
    for name, value in body.items():
        if name in extra_ok:
            out[name] = value
        elif name in readonly:
            errors.setdefault(name, []).append(f"The {name} field is read-only.")
        elif name not in fields:
            errors.setdefault(name, []).append(f"Unknown field '{name}'.")
        else:
            problem, cleaned = _check(name, value, fields[name])
            if problem:
                errors.setdefault(name, []).append(problem)
            else:
                out[name] = cleaned
    if errors:
        raise HttpError(400, "VALIDATION", "One or more validation errors occurred.", errors=errors)
    return out


def _check(name: str, value: Any, rule: F) -> tuple[str | None, Any]:
    if value is None:
        return (None, None) if rule.nullable else (f"The {name} field must not be null.", None)
    if rule.kind == "bool":
        return (None, value) if isinstance(value, bool) else (f"{name} must be a boolean.", None)
    if rule.kind == "address":
        return _check_address(name, value)
    if not isinstance(value, str):
        return f"{name} must be a string.", None
    if "\x00" in value:
        return f"{name} must not contain NUL characters.", None
    if rule.max_len is not None and len(value) > rule.max_len:
        return f"{name} must be at most {rule.max_len} characters.", None
    return _check_text(name, value, rule)


def _check_text(name: str, value: str, rule: F) -> tuple[str | None, Any]:
    ok = True
    if rule.kind == "email":
        ok = bool(EMAIL_RE.match(value))
    elif rule.kind == "guid":
        ok = is_guid(value)
    elif rule.kind == "enum":
        ok = value in rule.choices
    elif rule.kind == "lang":
        ok = bool(LANG_RE.match(value))
    elif rule.kind == "currency":
        ok = bool(CURRENCY_RE.match(value))
    elif rule.kind == "country":
        ok = bool(COUNTRY_RE.match(value))
    elif rule.kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            ok = False
    elif rule.kind == "datetime":
        try:
            return None, iso(parse_iso(value))
        except ValueError:
            ok = False
    if ok:
        return None, value
    if rule.kind == "enum":
        return f"{name} must be one of {', '.join(rule.choices)}.", None
    return f"'{value}' is not a valid {name}.", None


def _check_address(name: str, value: Any) -> tuple[str | None, Any]:
    if not isinstance(value, dict):
        return f"{name} must be an object.", None
    cleaned: dict[str, Any] = {}
    for key, sub in value.items():
        rule = ADDRESS.get(key)
        if rule is None:
            return f"Unknown field '{name}.{key}'.", None
        problem, out = _check(f"{name}.{key}", sub, rule)
        if problem:
            return problem, None
        cleaned[key] = out
    return None, cleaned
