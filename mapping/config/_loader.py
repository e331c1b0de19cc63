"""Parse ``config.yaml`` text into :class:`Config`, reporting every problem at once with
``file:line:column``, the key path, what was found and what is allowed.

Pure: takes text and a file name; reading the file is the caller's business.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from mapping.config._base import is_reference
from mapping.config._contradictions import contradictions
from mapping.config._models import Config

__all__ = [
    "SECRET_KEY_RE",
    "ConfigCheck",
    "ConfigError",
    "ConfigIssue",
    "Problem",
    "locate",
    "parse_config",
]

#: Keys whose values are secrets: only references are allowed there.
SECRET_KEY_RE = re.compile(
    r"(token|password|passwd|secret|private_key|session_id|api_key|authorization)", re.IGNORECASE
)

Loc = tuple[str | int, ...]
#: a problem found in a parsed config: where (key path) and what
Problem = tuple[Loc, str]
#: a further check of a parsed config (a caller's knowledge, e.g. the B2Connect contract)
ConfigCheck = Callable[[Config], list[Problem]]


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """A config that cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def parse_config(
    text: str, filename: str = "config.yaml", checks: Sequence[ConfigCheck] = ()
) -> Config:
    """Validate ``text`` and return the frozen config, or raise :class:`ConfigError`.

    ``checks`` run on the validated config; their problems are reported with positions like
    every other problem.
    """
    raw = _load_yaml(text, filename)
    issues = _secret_issues(raw, filename)
    secret_paths = {issue.path for issue in issues}
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        issues.extend(_validation_issues(exc, raw, filename, secret_paths))
        raise ConfigError(_dedupe(issues)) from None
    problems = [*config.reference_problems(), *contradictions(config)]
    for check in checks:
        problems.extend(check(config))
    issues.extend(_located(raw, filename, problems))
    if issues:
        raise ConfigError(_dedupe(issues))
    return config


def locate(text: str, filename: str, problems: Sequence[Problem]) -> list[ConfigIssue]:
    """Problems found in the config parsed from ``text``, with their file:line:column."""
    return _dedupe(_located(_load_yaml(text, filename), filename, problems))


def _located(raw: CommentedMap, filename: str, problems: Sequence[Problem]) -> list[ConfigIssue]:
    out = []
    for loc, message in problems:
        line, col = _position(raw, loc)
        out.append(ConfigIssue(filename, line, col, _path(raw, loc), message))
    return out


def _load_yaml(text: str, filename: str) -> CommentedMap:
    yaml = YAML(typ="rt")
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "not valid YAML"
        raise ConfigError(
            [ConfigIssue(filename, line, col, "", f"not valid YAML: {problem}")]
        ) from None
    if not isinstance(raw, CommentedMap):
        found = "an empty file" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError(
            [ConfigIssue(filename, 1, 1, "", f"expected a mapping at the top, found {found}")]
        )
    return raw


# --------------------------------------------------------------------------- secrets


def _secret_issues(node: Any, filename: str, loc: Loc = ()) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            here = (*loc, key)
            if isinstance(key, str) and SECRET_KEY_RE.search(key) and _is_literal_secret(value):
                line, col = node.lc.value(key)
                words = [str(p) for p in here if isinstance(p, str) and p != "connections"]
                env = "_".join(words[-2:]).upper().replace("-", "_")
                issues.append(
                    ConfigIssue(
                        filename,
                        line + 1,
                        col + 1,
                        _path(node, (), prefix=_path_str(loc), last=key),
                        "a literal secret is not allowed here (the value is not shown); "
                        f"reference it instead: ${{{env}}} from the environment or "
                        f"${{file:/run/secrets/{key}}} from a file",
                    )
                )
            else:
                issues.extend(_secret_issues(value, filename, here))
    elif isinstance(node, CommentedSeq):
        for index, item in enumerate(node):
            issues.extend(_secret_issues(item, filename, (*loc, index)))
    return issues


def _is_literal_secret(value: Any) -> bool:
    if value is None or isinstance(value, CommentedMap | CommentedSeq):
        return False
    return not (isinstance(value, str) and is_reference(value.strip()))


# --------------------------------------------------------------------------- pydantic errors


def _validation_issues(
    exc: ValidationError, raw: CommentedMap, filename: str, skip_paths: set[str]
) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors(include_url=False):
        loc = _real_loc(raw, tuple(err["loc"]))
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "type")
        path = _path(raw, loc)
        if path in skip_paths:
            continue
        line, col = _position(raw, loc, key=err["type"] in ("extra_forbidden",))
        issues.append(ConfigIssue(filename, line, col, path, _message(err, loc, raw)))
    return issues


def _message(err: Any, loc: Loc, raw: Any) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    found = err.get("input")
    shown = "(secret not shown)" if loc and SECRET_KEY_RE.search(str(loc[-1])) else repr(found)
    if kind in ("enum", "literal_error"):
        allowed = ctx.get("expected", "")
        allowed = re.sub(r"'([^']*)'", r"\1", allowed).replace(" or ", ", ")
        return f"{shown} is not one of {allowed}"
    if kind == "extra_forbidden":
        allowed_keys = _allowed_keys(raw, loc[:-1])
        hint = f"; allowed: {', '.join(allowed_keys)}" if allowed_keys else ""
        return f"unknown key '{loc[-1]}'{hint}"
    if kind == "missing":
        return f"required key '{loc[-1]}' is missing"
    if kind == "union_tag_invalid":
        return f"type {ctx.get('tag')!r} is not one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"'type' is missing; one of {ctx.get('expected_tags', 'b2connect, hubspot, salesforce')}"
    if kind == "string_pattern_mismatch":
        return f"{shown} does not match the expected form {ctx.get('pattern')}"
    message = str(err["msg"])
    message = message.removeprefix("Value error, ")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{message}; found {shown}"
    return message


def _allowed_keys(raw: Any, loc: Loc) -> list[str]:
    """Field names of the model at ``loc`` (walking Config's annotations)."""
    model: Any = Config
    node = raw
    for part in loc:
        model = _step(model, part)
        node = node[part] if isinstance(node, CommentedMap | CommentedSeq) else None
        if isinstance(model, _Union):
            model = model.pick(node)
        if model is None:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return []


def _step(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return _unwrap(field.annotation) if field else None
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is list and args:
        return _unwrap(args[0])
    if origin is dict and len(args) == 2:
        return _unwrap(args[1])
    return None


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
        if all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
            return _Union(members)
    return annotation


class _Union:
    """A discriminated union of models: the tag chooses the member."""

    def __init__(self, members: list[type[BaseModel]]) -> None:
        self.members = members

    def pick(self, node: Any) -> type[BaseModel] | None:
        tag = node.get("type") if isinstance(node, CommentedMap) else None
        for member in self.members:
            field = member.model_fields.get("type")
            if field is not None and tag in typing.get_args(field.annotation):
                return member
        return None


# --------------------------------------------------------------------------- positions


def _real_loc(raw: Any, loc: Loc) -> Loc:
    """Drop loc parts pydantic adds that are not keys (union tags, type names)."""
    out: list[str | int] = []
    node = raw
    for index, part in enumerate(loc):
        if (isinstance(node, CommentedMap) and part in node) or (
            isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]
        elif index == len(loc) - 1 and isinstance(part, str) and not _looks_like_type(part):
            out.append(part)  # a missing or unknown key: keep it for the message
    return tuple(out)


def _looks_like_type(part: str) -> bool:
    return part in ("str", "int", "float", "bool", "list", "dict") or "[" in part or "-" in part


def _position(raw: Any, loc: Loc, *, key: bool = False) -> tuple[int, int]:
    node = raw
    pos = (0, 0)
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, CommentedMap) and part in node:
            pos = node.lc.key(part) if (key and last) else node.lc.value(part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            pos = node.lc.item(part)
            node = node[part]
        else:
            break
    return pos[0] + 1, pos[1] + 1


def _path(raw: Any, loc: Loc, *, prefix: str = "", last: Any = None) -> str:
    del raw
    parts = list(loc) + ([last] if last is not None else [])
    text = prefix
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _path_str(loc: Loc) -> str:
    return _path(None, loc)


def _dedupe(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    seen: set[tuple[int, int, str]] = set()
    out = []
    for issue in sorted(issues, key=lambda i: (i.line, i.column)):
        marker = (issue.line, issue.column, issue.path)
        if marker in seen:
            continue
        seen.add(marker)
        out.append(issue)
    return out
