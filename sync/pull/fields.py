"""The fields a pull compares, and the way back from a CRM value to a B2Connect field.

Both sides are compared in **CRM form** (the form push writes and hashes):

* the B2Connect side is the current B2Connect record mapped forward, exactly as push maps it;
* the CRM side is the CRM's value passed through the field's *normalising* steps (``strip``,
  ``lower``, ``upper``, ``title``, ``email``, ``e164_phone``, ``iso_country``, ``number``,
  ``decimal``, ``date``, ``datetime``, ``truncate``). They are idempotent, so a value b2sync
  wrote comes back with the hash it was written with, and a CRM user's edit is normalised
  the same way push would normalise it.

Going back: a normalising chain is inverted by the identity (B2Connect receives the
normalised CRM value, which push maps to itself: the echo costs nothing); a ``map`` is
inverted by its reversed table when the table is one-to-one. Fields whose chain has anything
else (``constant``, ``template``, ``coalesce``, ``custom:*``, a many-to-one ``map``) are
*not invertible*: they are still compared, but a CRM edit is never written to B2Connect
(the merge runs them with direction ``push``). ``link`` fields (B2Connect ids turned into
CRM ids), fields without a B2Connect source and fields outside the B2Connect record (what
b2sync computes, ``insights.*``) are not pulled at all.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from mapping.compiler import CompiledField, CompiledMapping
from mapping.config import Direction, Pipeline, Rule
from mapping.transforms import TransformContext, TransformError, get_path

__all__ = ["NORMALISING", "PullField", "nest", "pull_fields"]

#: idempotent steps: applied to a CRM value they give the form push would have written
NORMALISING = frozenset(
    {
        "strip",
        "lower",
        "upper",
        "title",
        "email",
        "e164_phone",
        "iso_country",
        "number",
        "decimal",
        "date",
        "datetime",
        "truncate",
    }
)


@dataclass(frozen=True)
class PullField:
    """One CRM field a pull reads, with its B2Connect path, rule and way back."""

    compiled: CompiledField
    path: str
    direction: Direction
    invertible: bool
    reverse_map: Mapping[str, Any] | None

    @property
    def crm(self) -> str:
        return self.compiled.crm

    @property
    def rule(self) -> Rule:
        return self.compiled.rule

    def crm_value(self, raw: Any, lengths: Mapping[str, int | None]) -> Any:
        """The CRM's value normalised as push would have written it."""
        if not self.invertible:
            return raw
        ctx = TransformContext(target_length=lengths.get(self.crm))
        steps = self.compiled.steps
        names = [name for name, _fn, _option in steps]
        if "map" in names:  # steps before the map act on B2Connect values, not CRM ones
            steps = steps[names.index("map") + 1 :]
        value = raw
        for name, fn, option in steps:
            if name in NORMALISING:
                value = fn(value, ctx, option)
        return value

    def b2connect_value(self, record: Mapping[str, Any], lengths: Mapping[str, int | None]) -> Any:
        """The B2Connect record's value in CRM form (push's mapping); TransformError if bad."""
        ctx = TransformContext(record=record, target_length=lengths.get(self.crm))
        return self.compiled.value(record, ctx)

    def back(self, crm_value: Any, current: Any = None) -> Any:
        """The B2Connect value for a (normalised) CRM value; only for invertible fields.

        ``current`` is the B2Connect record's present value: when it is a list or an object,
        the CRM's text form of one (``a;b``, compact JSON) goes back in that shape, never
        flattened into the shop.
        """
        if self.reverse_map is not None:
            key = "" if crm_value is None else str(crm_value)
            return self.reverse_map.get(key, crm_value)
        return _restructure(crm_value, current)


def pull_fields(
    pipeline: Pipeline, mapping: CompiledMapping, writable: Collection[str] | None = None
) -> list[PullField]:
    """The fields flowing from the CRM in ``pipeline`` (in mapping order).

    ``writable`` names the top-level B2Connect fields the write-back accepts; fields under
    any other name (enrichments such as ``insights.*`` that b2sync computes) are not pulled.
    """
    out: list[PullField] = []
    for compiled in mapping.flowing[Direction.pull]:
        names = {name for name, _fn, _option in compiled.steps}
        if compiled.source is None or "link" in names:
            continue
        if writable is not None and compiled.source.split(".")[0] not in writable:
            continue
        direction = compiled.direction or pipeline.direction
        reverse = _reverse_map(compiled)
        invertible = names <= NORMALISING | {"map"} and ("map" not in names or reverse is not None)
        if not invertible:
            if direction is Direction.pull:
                continue  # nothing can flow: B2Connect cannot take it, the CRM must not
            direction = Direction.push
        out.append(PullField(compiled, compiled.source, direction, invertible, reverse))
    return out


def _reverse_map(compiled: CompiledField) -> dict[str, Any] | None:
    """The inverted ``map`` table when it is one-to-one (None otherwise or without a map)."""
    tables = [option for name, _fn, option in compiled.steps if name == "map"]
    if len(tables) != 1 or not isinstance(tables[0], Mapping):
        return None
    table = {k: v for k, v in tables[0].items() if k != "*"}
    targets = [str(v) for v in table.values()]
    if len(set(targets)) != len(targets):
        return None
    return {str(v): (None if k == "" else k) for k, v in table.items()}


def _restructure(crm_value: Any, current: Any) -> Any:
    """A CRM text back in the shape of the B2Connect value it replaces (see ``back``)."""
    if not isinstance(crm_value, str):
        return crm_value
    if isinstance(current, list):
        return [part for part in crm_value.split(";") if part] if crm_value.strip() else []
    if isinstance(current, Mapping):
        try:
            parsed = json.loads(crm_value)
        except ValueError:
            return crm_value
        return parsed if isinstance(parsed, dict) else crm_value
    return crm_value


def nest(path: str, value: Any, into: dict[str, Any]) -> None:
    """Set ``billingAddress.city`` in a merge-patch body as ``{"billingAddress": {"city": v}}``."""
    parts = path.split(".")
    node = into
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def read_value(record: Mapping[str, Any], field: PullField) -> Any:
    """The raw CRM value of ``field`` in a CRM record (None when absent)."""
    return get_path(record, field.crm) if "." in field.crm else record.get(field.crm)


def safe(fn: Any, *args: Any) -> tuple[bool, Any]:
    """``(True, fn(*args))``, or ``(False, None)`` when the value cannot be mapped."""
    try:
        return True, fn(*args)
    except (TransformError, LookupError):
        return False, None
