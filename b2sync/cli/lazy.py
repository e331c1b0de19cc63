"""A root command group that imports a command's module only when that command runs.

Every command module pulls in its feature (the SDKs, SQLAlchemy, Alembic, Starlette,
cryptography…); importing them all made ``b2sync --help`` take seconds. :class:`LazyGroup`
lists the commands from a static table (name, module, attribute, one-line help) and imports
the module of the one command resolved; ``--help`` of the root imports none of them.
tests/cli/test_lazy_cli.py checks the table against the real commands, so a changed help
line or a new command cannot drift unnoticed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["LazyCommand", "LazyGroup", "load"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a root command lives: ``module:attribute`` holds a ``typer.Typer``; a group
    (``group=True``, mounted under ``name``) or the Typer whose command ``name`` is a
    top-level command. ``help`` is its one-line help (shown by the root's ``--help``);
    ``override`` replaces the group's own help when mounted, as ``add_typer(help=…)``."""

    name: str
    module: str
    attribute: str
    help: str
    group: bool = False
    override: bool = False


def load(entry: LazyCommand) -> Any:
    """Import ``entry``'s module and build its click command, mounted as before."""
    sub = getattr(importlib.import_module(entry.module), entry.attribute)
    holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    holder.callback()(_noop)
    if not entry.group:
        holder.add_typer(sub)
    elif entry.override:
        holder.add_typer(sub, name=entry.name, help=entry.help)
    else:
        holder.add_typer(sub, name=entry.name)
    built = typer.main.get_command(holder)
    assert isinstance(built, TyperGroup)
    return built.commands[entry.name]


def _noop() -> None:
    """(a holder group's callback)"""


class LazyGroup(TyperGroup):
    """A Typer group whose commands come from :attr:`table`, built on first use."""

    table: tuple[LazyCommand, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._entries = {entry.name: entry for entry in self.table}

    def list_commands(self, ctx: Any) -> list[str]:
        return [entry.name for entry in self.table]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command once loaded; before that a stand-in with its name and help (all
        a help listing needs), so listing imports nothing."""
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = self._entries.get(cmd_name)
        if entry is None:
            return None
        return TyperCommand(entry.name, help=entry.help)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Load the command about to run (its module is imported now, not before)."""
        if args and args[0] in self._entries and args[0] not in self.commands:
            self.add_command(self.load(args[0]), args[0])
        return super().resolve_command(ctx, args)

    def load(self, name: str) -> Any:
        """The real command ``name`` (imports its module)."""
        if name not in self.commands:
            self.add_command(load(self._entries[name]), name)
        return self.commands[name]
