"""What a mapped payload may not carry to a CRM: values no JSON API can take faithfully.

The B2Connect feed can carry them (a lone UTF-16 surrogate escaped as ``\\ud800``, ``NaN``,
``1e999``); sending one would corrupt the CRM record or fail the whole batch, so the record
is dead-lettered instead, naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.b2connect import STREAMS, schema_of
from mapping.compiler import CompiledMapping, FieldError

__all__ = ["unencodable_path", "unsendable"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _problem(value: Any) -> str | None:
    """Why ``value`` cannot go over the wire as one CRM field value, or None when it can."""
    if isinstance(value, str):
        return (
            "contains invalid Unicode (a lone surrogate)" if _LONE_SURROGATE.search(value) else None
        )
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        return "is not a finite number"
    if isinstance(value, float) and "e" in repr(value):
        # sent as text like 5e-324 or 1e+308: not what any CRM field stores back
        return "is a number too large or too small to send exactly"
    if isinstance(value, Mapping):
        return "is an object where a single value belongs"
    if isinstance(value, list | tuple | set | frozenset):  # a multi-select value: "a;b"
        if any(isinstance(item, Mapping | list | tuple | set | frozenset) for item in value):
            return "is a nested list or object where values belong"
        return next((p for p in map(_problem, value) if p), None)
    return None


#: B2Connect fields the contract types as objects (addresses): sent as compact JSON text
#: and pulled back in the shop's shape, never refused for being objects
_OBJECT_FIELDS = frozenset(
    f.name for stream in STREAMS for f in schema_of(stream).fields.values() if f.type == "object"
)


def unsendable(payload: Mapping[str, Any], mapping: CompiledMapping) -> list[FieldError]:
    """One error per payload field whose value cannot be sent, named by its source field.

    An object is refused where the contract has a single value (a hostile record), and sent
    as JSON text where the contract itself has an object (a mapped address)."""
    sources = {f.crm: f.source or f.crm for f in mapping.fields}
    errors = []
    for name, value in payload.items():
        source = sources.get(name, name)
        if isinstance(value, Mapping) and source in _OBJECT_FIELDS:
            found = unencodable_path(value)
            problem = None if found is None else f"contains invalid Unicode at {found}"
        else:
            problem = _problem(value)
        if problem is not None:
            errors.append(FieldError(source, problem))
    return errors


def unencodable_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first text inside ``value`` UTF-8 cannot encode, if any."""
    if isinstance(value, str):
        return path or None if _LONE_SURROGATE.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = unencodable_path(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unencodable_path(item, f"{path}[{index}]")
            if found:
                return found
    return None
