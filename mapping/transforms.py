"""The closed registry of named transforms, each ``(value, ctx) -> value``.

A transform never evaluates user text: options are plain YAML values. Python code can add a
transform with :func:`register_transform` and reference it in YAML as ``custom:NAME``::

    from mapping.transforms import register_transform

    @register_transform("loyalty_tier")
    def loyalty_tier(value, ctx, option):
        return "gold" if (value or 0) > 1000 else "standard"

Transforms raise :class:`TransformError` for values they cannot convert; the engine
dead-letters that record naming the field.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import phonenumbers
import pycountry

from mapping.emails import normalise_email

__all__ = [
    "DeferredLink",
    "TransformContext",
    "TransformError",
    "TransformFn",
    "get_path",
    "is_blank",
    "register_transform",
    "registry",
]


class TransformError(ValueError):
    """A value the transform cannot convert; the message says why (never the value)."""


class DeferredLink(LookupError):
    """A ``link`` target is not synced yet; the engine retries the record later."""

    def __init__(self, pipeline: str, key: str) -> None:
        super().__init__(f"linked record {key} of pipeline '{pipeline}' is not synced yet")
        self.pipeline = pipeline
        self.key = key


@dataclass(slots=True)
class TransformContext:
    """What a transform may look at besides its value (one per record; the engine sets
    ``target_length`` per field)."""

    record: Mapping[str, Any] = field(default_factory=dict)
    target_length: int | None = None
    link: Callable[[str, str], str | None] | None = None


TransformFn = Callable[[Any, TransformContext, Any], Any]
#: how often a step re-applies itself to reach a stable (idempotent) result
_STABLE_ROUNDS = 4
_REGISTRY: dict[str, TransformFn] = {}
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


def register_transform(name: str) -> Callable[[TransformFn], TransformFn]:
    """Register ``fn(value, ctx, option)``; built-ins by plain name, custom ones as ``custom:NAME``."""

    def decorator(fn: TransformFn) -> TransformFn:
        key = name if name in _BUILTIN_NAMES else f"custom:{name.removeprefix('custom:')}"
        _REGISTRY[key] = fn
        return fn

    return decorator


def registry() -> Mapping[str, TransformFn]:
    """A read-only view of the registered transforms."""
    return dict(_REGISTRY)


def is_blank(value: Any) -> bool:
    """None, empty or whitespace-only strings."""
    return value is None or (isinstance(value, str) and not value.strip())


def get_path(record: Mapping[str, Any], path: str) -> Any:
    """``billingAddress.city`` → record["billingAddress"]["city"]; None when absent."""
    if "." not in path:
        return record.get(path) if isinstance(record, Mapping) else None
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


_BUILTIN_NAMES = frozenset(
    {
        "coalesce", "constant", "date", "datetime", "decimal", "e164_phone", "email",
        "iso_country", "link", "lower", "map", "number", "strip", "template", "title",
        "truncate", "upper",
    }
)  # fmt: skip


def _text(fn: Callable[[str], str]) -> TransformFn:
    """A text step applied until its result is stable (``str.title`` of ``ǰa`` gives
    ``J̌a``, whose title is ``J̌A``), so the step is idempotent."""

    def apply(value: Any, _ctx: TransformContext, _option: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = fn(value)
        for _ in range(_STABLE_ROUNDS):
            again = fn(text)
            if again == text:
                break
            text = again
        return text

    return apply


register_transform("strip")(_text(str.strip))
register_transform("lower")(_text(str.lower))
register_transform("upper")(_text(str.upper))
register_transform("title")(_text(str.title))


@register_transform("email")
def _email(value: Any, _ctx: TransformContext, _option: Any) -> Any:
    if is_blank(value):
        return None
    text = normalise_email(str(value))
    if len(text) > 254 or not _EMAIL_RE.match(text):
        raise TransformError("not a valid email address")
    return text


@register_transform("e164_phone")
def _phone(value: Any, _ctx: TransformContext, option: Any) -> Any:
    if is_blank(value):
        return None
    region = str(option).upper() if isinstance(option, str) else "DE"
    try:
        parsed = phonenumbers.parse(str(value), region)
    except phonenumbers.NumberParseException:
        raise TransformError("not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        raise TransformError("not a possible phone number")
    return _stable_e164(parsed)


def _stable_e164(parsed: phonenumbers.PhoneNumber) -> str:
    """The E.164 text that reads back as itself.

    Some typed numbers (``0004 / 195113`` in Germany: leading zeros after the trunk prefix)
    format to an E.164 text that parses to another number, so applying the transform again
    would rewrite it on every round trip. Re-parse until the text is stable; push then writes
    what a pull reads back, and the transform is idempotent.
    """
    text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    for _ in range(_STABLE_ROUNDS):
        again = phonenumbers.format_number(
            phonenumbers.parse(text, None), phonenumbers.PhoneNumberFormat.E164
        )
        if again == text:
            return text
        text = again
    raise TransformError("phone number has no stable E.164 form (check its leading zeros)")


@functools.lru_cache(maxsize=4096)
def _country_code(text: str, option: str | None) -> str | None:
    try:
        country = pycountry.countries.lookup(text)
    except LookupError:
        return None
    if option == "name":
        return str(country.name)
    if option == "alpha3":
        return str(country.alpha_3)
    return str(country.alpha_2)


@register_transform("iso_country")
def _country(value: Any, _ctx: TransformContext, option: Any) -> Any:
    if is_blank(value):
        return None
    code = _country_code(str(value).strip(), option if isinstance(option, str) else None)
    if code is None:
        raise TransformError("not a known country name or ISO code")
    return code


def _parse_datetime(value: Any, fmt: str | None = None) -> datetime:
    """A date/time from a value; ``fmt`` (the transform's own output format) is tried first,
    so a value the transform already formatted reads back as itself."""
    if fmt is not None and isinstance(value, str):
        try:
            parsed = datetime.strptime(value.strip(), fmt)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        parsed = datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
    else:
        text = str(value).strip().replace("Z", "+00:00")
        if re.match(r".*[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise TransformError("not an ISO 8601 date/time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@register_transform("datetime")
def _datetime(value: Any, _ctx: TransformContext, option: Any) -> Any:
    if is_blank(value):
        return None
    fmt = option if isinstance(option, str) else None
    moment = _parse_datetime(value, fmt).astimezone(UTC)
    if isinstance(option, str):
        return moment.strftime(option)
    if option == "epoch_ms":
        return int(moment.timestamp() * 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@register_transform("date")
def _date(value: Any, _ctx: TransformContext, option: Any) -> Any:
    if is_blank(value):
        return None
    day = _parse_datetime(value, option if isinstance(option, str) else None).date()
    return day.strftime(option) if isinstance(option, str) else day.isoformat()


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TransformError("expected a number, found a boolean")
    try:
        number = (
            Decimal(str(value).strip().replace(",", "."))
            if isinstance(value, str)
            else Decimal(value)
        )
    except (InvalidOperation, TypeError, ValueError):
        raise TransformError("not a number") from None
    if not number.is_finite():
        raise TransformError("not a finite number")
    return number


@register_transform("number")
def _number(value: Any, _ctx: TransformContext, _option: Any) -> Any:
    if is_blank(value):
        return None
    number = _to_decimal(value)
    if number == number.to_integral_value():
        return int(number)
    as_float = float(number)  # a float that rounds to a whole number reads back as an int
    return int(as_float) if as_float.is_integer() else as_float


@register_transform("decimal")
def _decimal(value: Any, _ctx: TransformContext, option: Any) -> Any:
    if is_blank(value):
        return None
    places = int(option) if isinstance(option, int) and not isinstance(option, bool) else 2
    try:
        return _to_decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise TransformError("number too large for its decimal places") from None


@register_transform("truncate")
def _truncate(value: Any, ctx: TransformContext, option: Any) -> Any:
    limit = (
        option if isinstance(option, int) and not isinstance(option, bool) else ctx.target_length
    )
    if not isinstance(value, str) or limit is None or len(value) <= limit:
        return value
    return value[:limit]


@register_transform("map")
def _map(value: Any, _ctx: TransformContext, option: Any) -> Any:
    if not isinstance(option, Mapping):
        raise TransformError("map needs a mapping of values")
    if is_blank(value):
        return option.get("", None)
    key = str(value) if not isinstance(value, bool) else str(value).lower()
    if key in option:
        return option[key]
    if any(type(target) is type(value) and target == value for target in option.values()):
        return value  # already mapped: mapping twice changes nothing
    if "*" in option:
        return option["*"]
    raise TransformError("value has no entry in the map (add it, or a '*' default)")


@register_transform("constant")
def _constant(_value: Any, _ctx: TransformContext, option: Any) -> Any:
    return option


@register_transform("coalesce")
def _coalesce(value: Any, ctx: TransformContext, option: Any) -> Any:
    paths = option if isinstance(option, list) else [option]
    for path in paths:
        candidate = get_path(ctx.record, str(path))
        if not is_blank(candidate):
            return candidate
    return value


class _SafeFormatter(string.Formatter):
    """``{firstName} {billingAddress.city}``: names and dotted paths only, no attribute access."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", field_name):
            raise TransformError(f"template field '{field_name}' is not a field name")
        found = get_path(kwargs["__record__"], field_name)
        return ("" if found is None else found), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec:
            raise TransformError("template fields take no format spec")
        return str(value)


@register_transform("template")
def _template(_value: Any, ctx: TransformContext, option: Any) -> Any:
    try:
        rendered = _SafeFormatter().vformat(str(option), (), {"__record__": ctx.record})
    except (ValueError, IndexError, KeyError) as exc:
        raise TransformError(f"bad template: {exc}") from None
    return rendered.strip() or None


@register_transform("link")
def _link(value: Any, ctx: TransformContext, option: Any) -> Any:
    if is_blank(value):
        return None
    if ctx.link is None:
        raise TransformError("link transform used outside the engine")
    crm_id = ctx.link(str(option), str(value))
    if crm_id is None:
        raise DeferredLink(str(option), str(value))
    return crm_id
