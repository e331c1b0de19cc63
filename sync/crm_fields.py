"""Do the CRM fields a config maps exist? ``describe`` each CRM object once and compare.

A mapped property the CRM does not have (``crm: frstname``) reads as blank on every pull and
fails every push, so ``b2sync check --online`` reports it and ``sync`` / ``run`` refuse to
start, each with the file:line of the mapping entry and the nearest existing name. The id
property is left out: the connectors check it themselves (HubSpot's is created on first use).
"""

from __future__ import annotations

import contextvars
import difflib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import structlog

from connectors.base import Connector, load
from connectors.errors import ConnectorError
from connectors.records import StreamSchema
from mapping.config import Config, ConfigIssue, FieldMapping, Pipeline, Problem
from sync.settings import issues_at, resolve

__all__ = ["check_online", "crm_field_issues", "crm_field_problems"]

log = structlog.get_logger(__name__)

Loc = tuple[str | int, ...]
ConnectorOf = Callable[[str], Connector]
_KIND = {"hubspot": ("HubSpot", "property"), "salesforce": ("Salesforce", "field")}


def crm_field_problems(
    config: Config, pipelines: Sequence[Pipeline], connector: ConnectorOf, *, strict: bool
) -> list[Problem]:
    """A problem per mapped CRM field that ``describe`` does not list.

    ``strict``: an object that cannot be described is a problem too; otherwise it is logged
    and skipped (the run itself reports the connection error).
    """
    targets = [
        (pipe, obj, loc, names)
        for index, pipe in _indexed(config, pipelines)
        for obj, loc, names in _targets(pipe, ("pipelines", index))
    ]
    first: dict[tuple[str, str], tuple[Pipeline, str, Loc]] = {}
    for pipe, obj, loc, _names in targets:
        first.setdefault((pipe.crm.connection, obj), (pipe, obj, loc))

    def ask(target: tuple[Pipeline, str, Loc]) -> tuple[StreamSchema | None, Problem | None]:
        return _describe(connector, *target, strict=strict)

    # every object described at once (one after another, a CRM's latency each, before)
    with ThreadPoolExecutor(max(1, len(first)), thread_name_prefix="b2sync-describe") as pool:
        futures = {
            key: pool.submit(contextvars.copy_context().run, ask, target)
            for key, target in first.items()
        }
    answers = {key: future.result() for key, future in futures.items()}
    problems: list[Problem] = []
    reported: set[tuple[str, str]] = set()
    for pipe, obj, _loc, names in targets:
        key = (pipe.crm.connection, obj)
        schema, failed = answers[key]
        if failed is not None and key not in reported:  # once, where the object first appears
            reported.add(key)
            problems.append(failed)
        if schema is None or not schema.fields:  # unknown: nothing to compare with
            continue
        kind = config.connections[pipe.crm.connection].type
        problems.extend(_missing(schema, kind, names))
    return problems


def crm_field_issues(
    path: str | os.PathLike[str],
    config: Config,
    pipelines: Sequence[Pipeline],
    connector: ConnectorOf,
    *,
    strict: bool = False,
) -> list[ConfigIssue]:
    """:func:`crm_field_problems` with the file:line:column of each mapping entry."""
    return issues_at(path, crm_field_problems(config, pipelines, connector, strict=strict))


def check_online(path: str | os.PathLike[str], config: Config) -> list[ConfigIssue]:
    """``check --online``: connect to every CRM the pipelines use and compare."""
    built: dict[str, Connector] = {}
    building = threading.Lock()  # the objects are described side by side

    def connector(name: str) -> Connector:
        with building:
            if name not in built:
                conn = config.connections[name]
                built[name] = load(conn.type).from_config(conn, secrets=resolve)
            return built[name]

    try:
        return crm_field_issues(path, config, config.pipelines, connector, strict=True)
    finally:
        for each in built.values():
            each.close()


def _indexed(config: Config, pipelines: Sequence[Pipeline]) -> Iterator[tuple[int, Pipeline]]:
    wanted = {p.name for p in pipelines}
    for index, pipe in enumerate(config.pipelines):
        if pipe.name in wanted:
            yield index, pipe


def _targets(pipe: Pipeline, here: Loc) -> Iterator[tuple[str, Loc, list[tuple[Loc, str]]]]:
    """(CRM object, where, [(where, field name)]) for the pipeline and its lines."""
    names = _field_names(pipe.fields, (*here, "fields"), pipe.crm.id_property)
    if pipe.match_key is not None:
        names.append(((*here, "match_key", "crm"), pipe.match_key.crm))
    yield pipe.crm.object, (*here, "crm", "object"), names
    if pipe.lines is not None:
        lines = _field_names(pipe.lines.fields, (*here, "lines", "fields"), pipe.lines.id_property)
        if pipe.lines.parent_field:
            lines.append(((*here, "lines", "parent_field"), pipe.lines.parent_field))
        yield pipe.lines.object, (*here, "lines", "object"), lines


def _field_names(
    specs: Sequence[FieldMapping], here: Loc, id_property: str | None
) -> list[tuple[Loc, str]]:
    return [
        ((*here, index, "crm"), spec.crm)
        for index, spec in enumerate(specs)
        if spec.crm != id_property and "." not in spec.crm  # relationship paths: not checked
    ]


def _describe(
    connector: ConnectorOf, pipe: Pipeline, obj: str, loc: Loc, *, strict: bool
) -> tuple[StreamSchema | None, Problem | None]:
    """``obj`` described, or None and (``strict``) the problem of not being able to."""
    try:
        return connector(pipe.crm.connection).describe(obj), None
    except ConnectorError as exc:
        reason, code = exc.message, exc.code
    except (OSError, ValueError) as exc:  # the client could not even be built (a CA file, a URL)
        reason, code = f"{type(exc).__name__}: {exc}", type(exc).__name__
    if strict:
        return None, (loc, f"cannot describe '{obj}' on {pipe.crm.connection}: {reason}")
    log.warning("crm.describe_failed", pipeline=pipe.name, object=obj, code=code)
    return None, None  # the run itself reports the unreachable CRM


def _missing(schema: StreamSchema, kind: str, names: list[tuple[Loc, str]]) -> list[Problem]:
    system, noun = _KIND.get(kind, (kind, "field"))
    folded = {name.lower(): name for name in schema.fields}
    out: list[Problem] = []
    for loc, name in names:
        exists = name in schema.fields or (kind == "salesforce" and name.lower() in folded)
        if exists:
            continue
        close = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.6)
        hint = f"did you mean '{folded[close[0]]}'? " if close else ""
        out.append(
            (
                loc,
                f"{system} {schema.stream} has no {noun} '{name}'; {hint}fix the mapping or "
                f"create the {noun} in {system} first",
            )
        )
    return out
