"""The module graph has no import cycles and no module imports another package's private parts."""

from __future__ import annotations

from tests.architecture.imports import imports_of, module_files, private_imports


def _graph() -> dict[str, set[str]]:
    modules = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for imp in imports_of(name, path):
            submodules = {f"{imp.module}.{n}" for n in imp.names} & modules.keys()
            edges |= submodules
            if (imp.module in modules and len(submodules) < len(imp.names)) or not imp.names:
                edges.add(imp.module)
        graph[name] = (edges & modules.keys()) - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycles() -> None:
    """No module imports itself through other modules (module-level imports only)."""
    assert _cycles(_graph()) == []


def test_cycle_check_finds_a_cycle() -> None:
    """The cycle check reports two modules that import each other."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_private_imports_across_packages() -> None:
    """Nobody imports a ``_private`` module or name from outside the package that owns it."""
    found = list(private_imports())
    assert found == []
