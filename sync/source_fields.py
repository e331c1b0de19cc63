"""Are the B2Connect fields a config names real? Checked against the integration contract.

Every ``b2connect:`` path of a pipeline (fields, match key, association fields, lines and
their fields, and the paths ``coalesce`` and ``template`` transforms read) must be a field of
the stream in ``docs/b2connect-integration-api.yaml`` (as :mod:`connectors.b2connect` knows
it), a dotted path into one of its objects (``billingAddress.city``), or one of the
``insights.*`` fields b2sync computes for customers. A typo such as ``fristName`` would
otherwise map nothing, silently, for ever.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Iterator, Sequence

from connectors.b2connect import nested_fields, schema_of
from mapping.config import INSIGHT_FIELDS, INSIGHTS_PREFIX, Config, FieldMapping, Pipeline, Problem

__all__ = ["path_problem", "source_field_problems"]

CONTRACT = "docs/b2connect-integration-api.yaml"
Loc = tuple[str | int, ...]


def source_field_problems(config: Config) -> list[Problem]:
    """One problem per B2Connect path of ``config`` that the stream does not have."""
    problems: list[Problem] = []
    for index, pipe in enumerate(config.pipelines):
        for loc, path, fields in _paths(pipe, ("pipelines", index)):
            message = path_problem(pipe.b2connect.stream, path, fields)
            if message:
                problems.append((loc, message))
    return problems


def _paths(pipe: Pipeline, here: Loc) -> Iterator[tuple[Loc, str, Sequence[str] | None]]:
    """(where, path, the fields of the lines it is relative to, or None for the record)."""
    yield from _field_paths(pipe.fields, (*here, "fields"), None)
    if pipe.match_key is not None:
        yield (*here, "match_key", "b2connect"), pipe.match_key.b2connect, None
    for index, assoc in enumerate(pipe.associations):
        yield (*here, "associations", index, "field"), assoc.field, None
    if pipe.lines is not None:
        yield (*here, "lines", "source"), pipe.lines.source, None
        line_fields = nested_fields(pipe.b2connect.stream, pipe.lines.source) or ()
        if line_fields:
            yield (*here, "lines", "key"), pipe.lines.key, line_fields
            yield from _field_paths(pipe.lines.fields, (*here, "lines", "fields"), line_fields)


def _field_paths(
    specs: Sequence[FieldMapping], here: Loc, fields: Sequence[str] | None
) -> Iterator[tuple[Loc, str, Sequence[str] | None]]:
    for index, spec in enumerate(specs):
        if spec.b2connect is not None:
            yield (*here, index, "b2connect"), spec.b2connect, fields
        for step_index, step in enumerate(spec.transform):
            if not isinstance(step, dict):
                continue
            for name, option in step.items():
                loc = (*here, index, "transform", step_index, name)
                for path in _transform_paths(name, option):
                    yield loc, path, fields


def _transform_paths(name: str, option: object) -> list[str]:
    """The record paths a ``coalesce`` or ``template`` transform reads."""
    if name == "coalesce":
        return [str(p) for p in (option if isinstance(option, list) else [option])]
    if name == "template":
        try:
            parsed = list(string.Formatter().parse(str(option)))
        except ValueError:
            return []  # the transform itself reports a malformed template per record
        return [field for _text, field, _spec, _conv in parsed if field]
    return []


def path_problem(stream: str, path: str, fields: Sequence[str] | None = None) -> str | None:
    """Why ``path`` is not a B2Connect field of ``stream`` (or of its lines); None if it is."""
    if fields is not None:
        head, _, rest = path.partition(".")
        if head in fields and not rest:
            return None
        return _unknown(path, f"B2Connect {stream} lines", fields)
    if path.startswith(INSIGHTS_PREFIX):
        return _insights_problem(stream, path)
    known = schema_of(stream).fields
    head, _, rest = path.partition(".")
    if head not in known:
        return _unknown(path, f"B2Connect {stream}", [*known, *_insight_names(stream)])
    if not rest:
        return None
    inner = nested_fields(stream, head)
    if inner is None:
        return f"'{head}' of B2Connect {stream} has no fields, so '{path}' names nothing"
    if rest in inner:
        return None
    return _unknown(path, f"B2Connect {stream}", [f"{head}.{name}" for name in inner])


def _insights_problem(stream: str, path: str) -> str | None:
    if stream != "customers":
        return (
            f"'{path}': insights.* fields are computed for customers only, "
            f"not for B2Connect {stream}"
        )
    return (
        None
        if path in _insight_names(stream)
        else _unknown(path, "insights", _insight_names(stream))
    )


def _insight_names(stream: str) -> list[str]:
    return [INSIGHTS_PREFIX + name for name in INSIGHT_FIELDS] if stream == "customers" else []


def _unknown(path: str, where: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(path, list(candidates), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(candidates))}"
    return f"'{path}' is not a field of {where} ({CONTRACT}); {hint}"
