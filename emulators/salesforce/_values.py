"""Field value coercion and validation, raising the error codes Salesforce uses."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from ._ids import to18
from ._schema import NUMBER_TYPES, Field

__all__ = ["SaveError", "coerce", "format_stamp", "parse_datetime", "unreadable"]

_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class SaveError(Exception):
    """One record's save failure: ``statusCode``/``errorCode``, message and fields."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []

    def as_record_error(self) -> dict[str, Any]:
        """The collections / bulk shape (``statusCode``)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def format_stamp(epoch: float) -> str:
    """``2026-11-25T10:11:12.000+0000`` for an epoch in seconds."""
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(value: str) -> dt.datetime:
    """An aware UTC datetime from the ISO-8601 variants Salesforce accepts."""
    text = value.strip().replace(" ", "T", 1) if "T" not in value else value.strip()
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _bad_type(f: Field, value: Any) -> SaveError:
    return SaveError(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"{f.display_label}: value not of required type: {value}",
        [f.name],
    )


def _text(f: Field, value: Any) -> str | None:
    if isinstance(value, bool | dict | list):
        raise _bad_type(f, value)
    out = value if isinstance(value, str) else format(value)
    if out == "":
        return None
    if f.length and len(out) > f.length:
        raise SaveError(
            "STRING_TOO_LONG",
            f"{f.display_label}: data value too large: {out} (max length={f.length})",
            [f.name],
        )
    if f.type == "email" and not _EMAIL_RE.match(out):
        raise SaveError(
            "INVALID_EMAIL_ADDRESS", f"{f.display_label}: invalid email address: {out}", [f.name]
        )
    if f.type == "picklist" and f.restricted and out not in f.picklist:
        raise SaveError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{f.display_label}: bad value for restricted picklist field: {out}",
            [f.name],
        )
    if f.type in {"reference", "id"}:
        full = to18(out)
        if full is None:
            raise SaveError(
                "MALFORMED_ID", f"{f.display_label}: id value of incorrect type: {out}", [f.name]
            )
        return full
    return out


def _boolean(f: Field, value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false", "1", "0"}:
        return value.lower() in {"true", "1"}
    raise _bad_type(f, value)


def _number(f: Field, value: Any) -> float | int:
    if isinstance(value, bool | dict | list):
        raise _bad_type(f, value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad_type(f, value) from None
    if math.isnan(number) or math.isinf(number):
        raise _bad_type(f, value)
    digits = (f.precision or 18) - f.scale
    if abs(number) >= 10**digits:
        raise SaveError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{f.display_label}: value outside of valid range on numeric field: {value}",
            [f.name],
        )
    if f.type == "int":
        if number != int(number):
            raise _bad_type(f, value)
        return int(number)
    return round(number, f.scale) if f.scale else number


def _temporal(f: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad_type(f, value)
    try:
        if f.type == "date":
            return dt.date.fromisoformat(value[:10]).isoformat()
        return format_stamp(parse_datetime(value).timestamp())
    except ValueError:
        raise _bad_type(f, value) from None


def coerce(f: Field, value: Any) -> Any:
    """``value`` as stored for field ``f``; raises :class:`SaveError` when it does not fit."""
    if f.type == "boolean":
        return _boolean(f, value)
    if value is None:
        return None
    if f.type in NUMBER_TYPES:
        if isinstance(value, str) and value.strip() == "":
            return None
        return _number(f, value)
    if f.type in {"date", "datetime"}:
        return None if value == "" else _temporal(f, value)
    return _text(f, value)


#: The Java type the REST API's JSON reader binds a field type to (as named in its messages).
_JAVA_TYPES = {
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "boolean": "boolean",
    "date": "Date",
    "datetime": "Date",
}


def _token(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_STRING"


def unreadable(f: Field, value: Any) -> str | None:
    """The ``JSON_PARSER_ERROR`` message when the REST API's JSON reader cannot bind ``value``
    to field ``f`` at all (a wrongly typed value: ``"abc"`` for a number, ``"yes"`` for a
    checkbox, an object for a text field), else None.

    Salesforce deserialises the whole request body before it saves any record, so such a value
    fails the whole request with one 400, not that record only. Values that bind but break a
    rule (too long, out of range, bad picklist value) stay per-record errors (:func:`coerce`).
    """
    if value is None or (isinstance(value, str) and value == ""):
        return None
    try:
        coerce(f, value)
    except SaveError as err:
        if err.code != "INVALID_FIELD_FOR_INSERT_UPDATE":
            return None
    else:
        return None
    java = _JAVA_TYPES.get(f.type, "String")
    shown = value if isinstance(value, str | int | float) else ""
    return (
        f"Cannot deserialize instance of {java} from {_token(value)} value {shown} or request "
        "may be missing a required field"
    )
