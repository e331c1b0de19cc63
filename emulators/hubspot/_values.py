"""Property value validation and normalisation, the way HubSpot checks written values."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ._schema import ObjectType, PropertyDef
from ._util import as_text, iso_ms, to_epoch_ms, to_number

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)

Detail = dict[str, Any]


def _detail(name: str, error: str, message: str) -> Detail:
    return {"isValid": False, "message": message, "error": error, "name": name}


def is_valid_email(value: str) -> bool:
    """A pragmatic RFC 5322 subset, like HubSpot's own check."""
    return bool(_EMAIL.match(value)) and ".." not in value and len(value) <= 254


Coerced = tuple[str, Detail | None]


def _number(defn: PropertyDef, text: str) -> Coerced:
    if to_number(text) is None:
        return text, _detail(defn.name, "INVALID_DECIMAL", f"{text} was not a valid number.")
    return text.strip(), None


def _bool(defn: PropertyDef, text: str) -> Coerced:
    low = text.strip().lower()
    if low not in ("true", "false"):
        return text, _detail(defn.name, "INVALID_BOOLEAN", f"{text} was not a valid boolean.")
    return low, None


def _datetime(defn: PropertyDef, text: str) -> Coerced:
    ms = to_epoch_ms(text)
    if ms is None:
        return text, _detail(defn.name, "INVALID_DATETIME", f"{text} was not a valid datetime.")
    return iso_ms(ms / 1000), None


def _date(defn: PropertyDef, text: str) -> Coerced:
    ms = to_epoch_ms(text)
    if ms is None:
        return text, _detail(defn.name, "INVALID_DATE", f"{text} was not a valid date.")
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if (dt.hour, dt.minute, dt.second, dt.microsecond) != (0, 0, 0, 0):
        clock = dt.strftime("%H:%M:%S.") + f"{dt.microsecond // 1000:03d}"
        return text, _detail(defn.name, "INVALID_DATE", f"{text} is at {clock} UTC, not midnight!")
    return dt.strftime("%Y-%m-%d"), None


def _enumeration(defn: PropertyDef, text: str) -> Coerced:
    if not defn.options:
        return text, None
    allowed = defn.option_values()
    parts = [p for p in text.split(";") if p != ""]
    if defn.field_type != "checkbox" and len(parts) > 1:
        parts = [text]
    bad = [p for p in parts if p not in allowed]
    if bad:
        message = f"{bad[0]} was not one of the allowed options: {sorted(allowed)}"
        return text, _detail(defn.name, "INVALID_OPTION", message)
    return ";".join(parts), None


_COERCE = {
    "number": _number,
    "bool": _bool,
    "datetime": _datetime,
    "date": _date,
    "enumeration": _enumeration,
}


def _coerce(defn: PropertyDef, text: str) -> Coerced:
    """(normalised value, error detail or None) for one non-empty value."""
    fn = _COERCE.get(defn.type)
    return fn(defn, text) if fn else (text, None)


def normalize(
    ot: ObjectType,
    defs: dict[str, PropertyDef],
    props: Any,
    *,
    blocklist: set[str] | frozenset[str] = frozenset(),
    allow_read_only: bool = False,
) -> tuple[dict[str, str], list[Detail]]:
    """Written ``props`` as stored strings ("" clears), plus HubSpot-style error details."""
    if props is None:
        return {}, []
    if not isinstance(props, dict):
        return {}, [_detail("properties", "INVALID_INPUT", "properties must be an object")]
    out: dict[str, str] = {}
    errors: list[Detail] = []
    for name, raw in props.items():
        defn = defs.get(name)
        if defn is None or defn.archived:
            errors.append(
                _detail(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            )
            continue
        text = "" if raw is None else as_text(raw)
        if defn.read_only and not allow_read_only:
            errors.append(
                _detail(
                    name, "READ_ONLY_VALUE", f'Property "{name}" is read-only and cannot be set'
                )
            )
            continue
        if text == "":
            out[name] = ""
            continue
        if ot.name == "contacts" and name == "email":
            text = text.strip().lower()
            if not is_valid_email(text):
                errors.append(_detail(name, "INVALID_EMAIL", f"Email address {text} is invalid"))
                continue
            if text in blocklist:
                errors.append(
                    _detail(
                        name,
                        "INVALID_EMAIL",
                        f"Email address {text} was permanently deleted by a GDPR delete request "
                        "and is blocklisted; it cannot be used for a new contact",
                    )
                )
                continue
        value, err = _coerce(defn, text)
        if err is not None:
            errors.append(err)
        else:
            out[name] = value
    return out, errors
