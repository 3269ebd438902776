"""An import alias names one module everywhere in the shipped code (the layer and the functions): the same alias
meaning two modules in two files is where a maintainer reading one of them trips."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import project

SHIPPED = (project.ROOT / "layers" / "gateway" / "kyc_gateway", project.ROOT / "functions")


def aliases(path: Path) -> dict[str, str]:
    """Each alias a module's imports give, and the module (or module member) it stands for."""
    named = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name in node.names:
                if name.asname and name.asname != name.name:
                    origin = node.module if isinstance(node, ast.ImportFrom) else None
                    named[name.asname] = f"{origin}.{name.name}" if origin else name.name
    return named


def test_an_alias_means_the_same_module_in_every_file_that_uses_it():
    meanings: dict[str, set[str]] = defaultdict(set)
    for root in SHIPPED:
        for path in root.rglob("*.py"):
            for alias, origin in aliases(path).items():
                meanings[alias].add(origin)

    assert {alias: origins for alias, origins in meanings.items() if len(origins) > 1} == {}


def test_two_meanings_of_one_alias_are_found(tmp_path):
    (tmp_path / "a.py").write_text("from kyc_gateway.providers.connectfi import client as connectfi\n")
    (tmp_path / "b.py").write_text("from kyc_gateway.providers.connectfi import identification as connectfi\n")

    found = {aliases(tmp_path / name)["connectfi"] for name in ("a.py", "b.py")}

    assert found == {"kyc_gateway.providers.connectfi.client", "kyc_gateway.providers.connectfi.identification"}
