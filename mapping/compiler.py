"""Compile a pipeline's YAML field list into chains of registered transforms and apply them.

``compile_fields`` runs once per pipeline (unknown ``custom:`` names fail here, pointing at the
field); ``Mapping.apply`` runs per record and returns the CRM payload plus per-field errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mapping.config import Direction, FieldMapping, Rule
from mapping.transforms import (
    DeferredLink,
    TransformContext,
    TransformError,
    TransformFn,
    get_path,
    is_blank,
    registry,
)

__all__ = [
    "CompiledField",
    "CompiledMapping",
    "FieldError",
    "Mapped",
    "MappingError",
    "compile_fields",
]


class MappingError(ValueError):
    """A mapping that cannot be compiled (e.g. an unregistered custom transform)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"fields[{index}]: {message}")
        self.index = index


@dataclass(frozen=True)
class FieldError:
    """Why one field of one record could not be mapped."""

    field: str
    message: str


@dataclass(frozen=True)
class CompiledField:
    """One field: where it comes from, its transform chain and its rule."""

    crm: str
    source: str | None
    steps: tuple[tuple[str, TransformFn, Any], ...]
    default: Any
    required: bool
    rule: Rule
    direction: Direction | None

    def value(self, record: Mapping[str, Any], ctx: TransformContext) -> Any:
        value = get_path(record, self.source) if self.source else None
        for _name, fn, option in self.steps:
            value = fn(value, ctx, option)
        if is_blank(value) and self.default is not None:
            value = self.default
        if self.required and is_blank(value):
            raise TransformError("required value is missing")
        return value


@dataclass(frozen=True)
class Mapped:
    """The CRM payload of one record, or why fields failed, or which links are pending."""

    payload: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    deferred: list[DeferredLink] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.deferred


@dataclass(frozen=True)
class CompiledMapping:
    """A compiled pipeline mapping."""

    fields: tuple[CompiledField, ...]
    flowing: Mapping[Direction, tuple[CompiledField, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_direction = {d: tuple(f for f in self.fields if _flows(f, d)) for d in Direction}
        object.__setattr__(self, "flowing", by_direction)

    def apply(
        self,
        record: Mapping[str, Any],
        *,
        lengths: Mapping[str, int | None] | None = None,
        link: Callable[[str, str], str | None] | None = None,
        direction: Direction = Direction.push,
    ) -> Mapped:
        """Map one B2Connect record to its CRM payload (fields flowing in ``direction``)."""
        payload: dict[str, Any] = {}
        errors: list[FieldError] = []
        deferred: list[DeferredLink] = []
        ctx = TransformContext(record=record, link=link)
        sizes = lengths or {}
        for compiled in _flowing(self, direction):
            ctx.target_length = sizes.get(compiled.crm)
            try:
                payload[compiled.crm] = compiled.value(record, ctx)
            except DeferredLink as pending:
                deferred.append(pending)
            except TransformError as exc:
                errors.append(FieldError(compiled.source or compiled.crm, str(exc)))
            except Exception as exc:  # noqa: BLE001 - a hostile value must not crash a run
                why = f"cannot transform this value ({type(exc).__name__})"
                errors.append(FieldError(compiled.source or compiled.crm, why))
        return Mapped(payload, errors, deferred)


def _flowing(mapping: CompiledMapping, direction: Direction) -> tuple[CompiledField, ...]:
    """The fields of ``mapping`` that flow in ``direction`` (computed once per mapping)."""
    return mapping.flowing[direction]


def _flows(compiled: CompiledField, direction: Direction) -> bool:
    if direction is Direction.push and compiled.rule is Rule.crm_only:
        return False
    if direction is Direction.pull and compiled.rule is Rule.b2connect_only:
        return False
    return compiled.direction in (None, Direction.both, direction)


def compile_fields(fields: Sequence[FieldMapping]) -> CompiledMapping:
    """Compile the YAML field list; unknown transforms raise :class:`MappingError`."""
    known = registry()
    compiled = []
    for index, spec in enumerate(fields):
        steps: list[tuple[str, TransformFn, Any]] = []
        for step in spec.transform:
            name, option = next(iter(step.items())) if isinstance(step, dict) else (step, None)
            fn = known.get(name)
            if fn is None:
                raise MappingError(index, f"transform '{name}' is not registered")
            steps.append((name, fn, option))
        if spec.map is not None:
            steps.append(("map", known["map"], spec.map))
        compiled.append(
            CompiledField(
                crm=spec.crm,
                source=spec.b2connect,
                steps=tuple(steps),
                default=spec.default,
                required=spec.required,
                rule=spec.rule,
                direction=spec.direction,
            )
        )
    return CompiledMapping(tuple(compiled))
