"""tfprot.uniprot's modules import one another one way: no circle, even inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import tfprot.uniprot

PACKAGE = Path(tfprot.uniprot.__file__).parent


def imports_of(path: Path) -> set[str]:
    """Every tfprot module ``path`` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name == "tfprot" or name.startswith("tfprot.")}


def test_no_import_circle_and_nothing_upward():
    graph = {
        f"tfprot.uniprot.{path.stem}": imports_of(path)
        for path in PACKAGE.glob("*.py")
        if path.stem != "__init__"
    }
    for module, imported in graph.items():
        upward = {name for name in imported if name in ("tfprot", "tfprot.uniprot")}
        assert not upward, f"{module} imports {upward} (the package above it)"
        assert not any(name.startswith(("tfprot.cli", "tfprot.models")) for name in imported)

    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, " -> ".join([*visiting, module])
        visiting.append(module)
        for name in graph.get(module, ()):
            visit(name)
        visiting.pop()
        done.add(module)

    for module in graph:
        visit(module)
    assert "tfprot.uniprot.result" in graph["tfprot.uniprot.labelers"]
