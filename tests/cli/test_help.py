"""Help as a new admin reads it (issue 20, item 7): every command's ``--help`` keeps bracketed
words such as ``[erased]`` (Typer renders help as Rich markup) and shows no ``<bool>`` on
flags."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

from b2sync.cli import app
from b2sync.cli.lazy import LazyGroup


def _children(command: Any) -> dict[str, Any]:
    """A group's commands; the root's are loaded first (it imports them only on use)."""
    if isinstance(command, LazyGroup):
        return {name: command.load(name) for name in command.list_commands(None)}
    return dict(getattr(command, "commands", {}))


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, child in sorted(_children(command).items()):
        yield from _commands(child, (*path, name))


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_bracketed_words_in_help_texts_are_shown() -> None:
    """`audit shred --help` says the values read [erased], and so does the audit group's list;
    every bracketed word of every docstring and option help is in its command's --help."""
    assert "their values read [erased]" in _help(("audit", "shred"))
    assert "[erased]" in _help(("audit",))
    checked = 0
    for path, command in _commands(typer.main.get_command(app)):
        texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        words = {w for text in texts for w in re.findall(r"\[[a-z_]+\]", text)}
        shown = _help(path)
        for word in words:
            assert word in shown, f"b2sync {' '.join(path)} --help lost {word}"
            checked += 1
    assert checked >= 1


def test_flags_show_no_bool_type() -> None:
    """No command's --help labels a flag `<bool>` (the help flag included); options with a
    value keep their type."""
    outputs = {path: _help(path) for path, _ in _commands(typer.main.get_command(app))}
    assert len(outputs) > 40
    noisy = [" ".join(path) for path, text in outputs.items() if "<bool>" in text]
    assert not noisy, f"<bool> in the help of: {noisy}"
    assert "<path>" in outputs[("sync",)]
