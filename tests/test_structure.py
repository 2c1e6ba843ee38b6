"""The core's structure: an acyclic import graph (function-level imports included), kinds as
types, and each per-spec value computed once.

Imports under `if TYPE_CHECKING:` never run and are left out; every other import counts, wherever
it sits, because a function-level import is a dependency that only hides until it runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "inspector"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported_modules(tree: ast.AST, modules: set[str]) -> set[str]:
    """Project modules a module imports anywhere, except in TYPE_CHECKING blocks."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from inspector import train_cli` imports the module train_cli
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    modules = {f"inspector.{path.stem}" for path in PACKAGE.glob("*.py")} | {"inspector"}
    graph = {}
    for path in PACKAGE.glob("*.py"):
        name = "inspector" if path.stem == "__init__" else f"inspector.{path.stem}"
        graph[name] = _imported_modules(ast.parse(path.read_text(encoding="utf-8")), modules)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first repeated at the end), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_cycle_finder_finds_a_hidden_cycle():
    """The check itself can fail: a function-level import back is a cycle."""
    tree_a = ast.parse("from inspector.b import x\n")
    tree_b = ast.parse("def f():\n    from inspector.a import y\n")
    modules = {"inspector.a", "inspector.b"}
    graph = {"inspector.a": _imported_modules(tree_a, modules),
             "inspector.b": _imported_modules(tree_b, modules)}
    assert find_cycle(graph) == ["inspector.a", "inspector.b", "inspector.a"]
    guarded = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                        "    from inspector.a import y\n")
    assert _imported_modules(guarded, modules) == set()


def test_inspector_imports_are_acyclic():
    graph = import_graph()
    # The package's own __init__ re-exports the public API; modules importing `inspector`
    # itself would close a loop through it, so it is part of the graph like any module.
    assert "inspector.spec" in graph and graph["inspector.trace"]
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


# ----- meaning in types ------------------------------------------------------------------------


def test_kinds_are_the_strings_the_data_already_uses():
    """Specs, URLs and CSV files hold these strings; the enums must compare equal to them."""
    from inspector.kinds import BlockKind, EdgeKind, NodeKind, Role, ShortcutKind, View
    from inspector.spec import BLOCKS, SHORTCUT_KINDS

    assert list(BLOCKS) == ["basic", "bottleneck"] == [str(k) for k in BlockKind]
    assert list(SHORTCUT_KINDS) == ["none", "identity", "identity_pad", "projection",
                                    "pooled_projection"]
    assert {str(k) for k in EdgeKind} == {"main", "identity", "identity_pad", "projection",
                                          "pooled_projection", "other"}
    assert ShortcutKind.OTHER == EdgeKind.OTHER == "other"
    assert [str(v) for v in View] == ["block", "layer"]
    assert "shortcut" in {str(r) for r in Role} and NodeKind.ZERO_PAD == "zero_pad"
    dashed = {str(k) for k in EdgeKind if k.dashed}
    assert dashed == {"identity_pad", "projection", "pooled_projection"}


# ----- each thing once -------------------------------------------------------------------------


def test_a_spec_is_validated_once(monkeypatch):
    from inspector import spec as spec_module
    from inspector.spec import ResNetSpec, SpecError

    runs = []
    original = spec_module._validate_names
    monkeypatch.setattr(spec_module, "_validate_names", lambda s: (runs.append(s), original(s)))
    design = ResNetSpec(layers=(1, 2, 3, 1), num_classes=17)
    for _ in range(3):
        design.validate()
    assert len(runs) == 1
    broken = ResNetSpec(layers=(0, 2, 2, 2), num_classes=17)
    for _ in range(2):  # a failing check is not remembered: it says its sentence every time
        try:
            broken.validate()
        except SpecError:
            pass
    assert len(runs) == 3


def test_derived_values_are_computed_once_per_spec():
    from inspector import compute_facts
    from inspector.spec import ResNetSpec
    from inspector.trace import trace_graph

    design = ResNetSpec(layers=(2, 1, 1, 1), num_classes=23)
    twin = ResNetSpec(layers=(2, 1, 1, 1), num_classes=23)  # equal value, another object
    assert design.blocks() is twin.blocks()
    assert compute_facts(design) is compute_facts(twin)
    assert trace_graph(design, "layer") is trace_graph(twin, "layer")
