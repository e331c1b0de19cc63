"""Read the project's module-level imports with ``ast`` (nothing is imported or run).

``if TYPE_CHECKING:`` blocks and imports inside functions are left out: they do not run when
the module is imported, so they cannot make an import cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "Import", "imports_of", "module_files", "private_imports"]

ROOT = Path(__file__).resolve().parents[2]
_SKIPPED = {".venv", ".git", "migrations", "node_modules"}


@dataclass(frozen=True)
class Import:
    """One ``import`` statement's target, as absolute dotted names."""

    line: int
    module: str
    names: tuple[str, ...]


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every module of every package under ``root`` (and top-level scripts), by dotted name."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if _SKIPPED & set(rel.parts) or any(p.startswith(".") for p in rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import time (through ``if``/``try``/``with``, not defs)."""
    for node in body:
        if isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _top_level(block)
            for handler in node.handlers:
                yield from _top_level(handler.body)
        elif isinstance(node, ast.With):
            yield from _top_level(node.body)
        else:
            yield node


def _absolute(module: str | None, level: int, importer: str, is_package: bool) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports_of(name: str, path: Path, *, everywhere: bool = False) -> list[Import]:
    """The imports of module ``name``: module-level ones, or all with ``everywhere``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if everywhere else _top_level(tree.body)
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [Import(node.lineno, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node.module, node.level, name, is_package)
            names = tuple(alias.name for alias in node.names)
            found.append(Import(node.lineno, module, names))
    return found


def private_imports(root: Path = ROOT) -> list[str]:
    """``file:line: name`` for each import of a private ``_name`` from outside its package.

    ``a.b._c`` (or a name ``_c`` imported from ``a.b``) is private to package ``a.b``: only
    modules inside ``a.b`` may import it.
    """
    found: list[str] = []
    for name, path in module_files(root).items():
        rel = path.relative_to(root)
        importer_pkg = ".".join(rel.parts[:-1])
        for imp in imports_of(name, path, everywhere=True):
            targets = [imp.module, *(f"{imp.module}.{n}" for n in imp.names)]
            for target in targets:
                parts = target.split(".")
                for i, part in enumerate(parts):
                    if i > 0 and part.startswith("_") and not part.startswith("__"):
                        owner = ".".join(parts[:i])
                        if importer_pkg != owner and not importer_pkg.startswith(owner + "."):
                            found.append(f"{rel}:{imp.line}: {target}")
                        break
    return found
