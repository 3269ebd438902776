"""No module of the provider sandbox (local/sandbox/) takes part in an import cycle: imports go downwards only.

Imports are read from the source with `ast`, `if TYPE_CHECKING:` ones included: a type-only import still ties the
two modules together (a reader, a type checker or a refactor of one must load the other), and both circles this
test was written against were type-only. The server loads each provider module by name (`importlib`, from the
registry's `sandbox` entries), so a module calling `importlib.import_module` is counted as importing every one of
them. Imports are followed into the project's own modules (the layer, `local`, `project`...), so a cycle through a
module outside the sandbox is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kyc_gateway.registry import PROVIDERS

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = (ROOT, ROOT / "layers" / "gateway")  # where `import x.y` finds the project's own modules
SANDBOX = "local.sandbox"
LOADED_BY_NAME = tuple(entry.sandbox for entry in PROVIDERS)


def source_of(module: str) -> Path | None:
    """The project file defining `module` (a package's `__init__.py`), or None for a module not of the project."""
    parts = module.split(".")
    for root in SOURCE_ROOTS:
        for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


def imports_of(module: str, tree: ast.Module) -> set[str]:
    """The project modules `module` imports, anywhere in its source (TYPE_CHECKING blocks and functions included)."""
    package = module if source_of(module).name == "__init__.py" else module.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, `level - 1` packages up
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # `from package import module` imports that module
                named.add(f"{base}.{alias.name}" if source_of(f"{base}.{alias.name}") else base)
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "importlib.import_module":
            named.update(LOADED_BY_NAME)
    return {name for name in named if name != module and source_of(name)}


def import_graph() -> dict[str, set[str]]:
    """Every project module reachable from the sandbox's, with the project modules each imports."""
    sandbox_dir = ROOT / "local" / "sandbox"
    pending = [SANDBOX] + [f"{SANDBOX}.{path.stem}" for path in sorted(sandbox_dir.glob("*.py"))]
    pending.remove(f"{SANDBOX}.__init__")
    graph: dict[str, set[str]] = {}
    while pending:
        module = pending.pop()
        if module in graph:
            continue
        graph[module] = imports_of(module, ast.parse(source_of(module).read_text(encoding="utf-8")))
        pending.extend(graph[module] - graph.keys())
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.get(module, ()):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_sandbox_module_takes_part_in_an_import_cycle():
    graph = import_graph()

    circles = [component for component in cycles(graph) if any(m.startswith(SANDBOX) for m in component)]

    assert circles == []


def test_the_graph_reads_every_kind_of_import_the_sandbox_uses():
    # Given the import graph as the test reads it, Then it holds the edges a cycle could hide in
    graph = import_graph()

    assert "local.sandbox.common" in graph["local.sandbox.server"]  # a plain `from ... import`
    assert set(LOADED_BY_NAME) <= graph["local.sandbox.server"]  # providers loaded by name from the registry
    assert "kyc_gateway.registry" in graph["local.sandbox.server"]  # followed into the layer
    assert "local.sandbox.server" in graph["local.sandbox"]  # the package's own imports


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from local.sandbox.server import X\n", True),
        ("def later():\n    from local.sandbox.server import X\n", True),
        ("from . import server\n", True),
        ("from .server import X\n", True),
        ("import local.sandbox.server\n", True),
        ("from local.sandbox.common import Reply\n", False),
    ],
    ids=["type-checking", "in-a-function", "relative-module", "relative-name", "plain-import", "downward"],
)
def test_an_import_back_into_the_server_is_seen_as_a_cycle(source, expected):
    # Given the server's imports, and common.py importing the server in one of the ways Python allows
    graph = import_graph()
    graph["local.sandbox.common"] = imports_of("local.sandbox.common", ast.parse(source))

    # Then the circle through the server is found (and a downward import is none)
    assert any("local.sandbox.server" in component for component in cycles(graph)) is expected
