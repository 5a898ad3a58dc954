"""The package's imports form no cycle, and no module reaches into another's private names.

Read from the source with `ast` (nothing is imported), over controlroom/ and widgets/ (packaged as
controlroom.widgets):

* **Cycles at import time**: the graph of module-level imports — what runs when a module is first imported. An
  import of `a.b.c` from outside package `a.b` also runs `a/b/__init__.py`, so it is an edge to that package too;
  a package's own modules do not re-enter it.
* **Cycles between modules**: every import, the lazy ones inside functions too (the CLI imports lazily to start
  fast, which hides a cycle from the interpreter but not from a reader): module A needs B and B needs A means
  neither can be understood, tested or replaced alone. Edges go to the module named, not to its packages.
  Imports under `if TYPE_CHECKING:` never run and are left out of both.
* **Private names**: `from x import _name`, or `x._name` on a module bound by an import, anywhere in a module
  (lazy imports too), where x is another controlroom module. A name with one leading underscore is that module's
  own business; another module that needs it needs a public name.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREES = {"controlroom": ROOT / "controlroom", "controlroom.widgets": ROOT / "widgets"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for prefix, tree in TREES.items():
        for path in sorted(tree.rglob("*.py")):
            rel = path.relative_to(tree).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([prefix, *parts])
            if prefix == "controlroom" and rel.parts[0] == "widgets":
                continue
            found[name] = path
    return found


MODULES = _modules()


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if _is_package(module) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _top_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: at module level, inside top-level if/try/with blocks."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _type_checking(node):
                yield from _top_level_imports(node.body)
            yield from _top_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _top_level_imports(block)
        elif isinstance(node, ast.With):
            yield from _top_level_imports(node.body)


def _all_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that can run: anywhere in the module, except under `if TYPE_CHECKING:`."""
    def walk(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child
            elif isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    yield from walk(ast.Module(body=[other], type_ignores=[]))
            else:
                yield from walk(child)
    yield from walk(tree)


def _named(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The controlroom modules an import statement names (`from p import m` names p.m when m is a module)."""
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    else:
        base = _absolute(module, node)
        names = {f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names}
    return {n for n in names if n in MODULES and n != module}


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The controlroom modules an import statement runs (the module itself, and packages it enters)."""
    names: set[str] = set()
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    else:
        base = _absolute(module, node)
        names.add(base)
        names |= {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
    out = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            # A package's own modules (and the package itself) do not run its __init__ again.
            if prefix in MODULES and prefix != module and not (module + ".").startswith(prefix + "."):
                if i == len(parts) or _is_package(prefix):
                    out.add(prefix)
    return out


def import_graph() -> dict[str, set[str]]:
    """What runs at import time: module-level imports, and the packages they enter."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = _tree(path)
        graph[name] = set()
        for node in _top_level_imports(tree.body):
            graph[name] |= _targets(name, node)
    return graph


def dependency_graph() -> dict[str, set[str]]:
    """Which module needs which: every import, lazy ones too."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = _tree(path)
        graph[name] = set()
        for node in _all_imports(tree):
            graph[name] |= _named(name, node)
    return graph


# None left: the vocabulary (journal/events.py) no longer reaches back into its checker (journal/schema.py).
KNOWN_CYCLES: list[list[str]] = []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def private_imports() -> list[str]:
    found = []
    for name, path in MODULES.items():
        tree = _tree(path)
        bound: dict[str, str] = {}  # local name -> the controlroom module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = _absolute(name, node)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if full in MODULES:
                        bound[alias.asname or alias.name] = full
                    elif base in MODULES and base != name and alias.name.startswith("_") and not alias.name.startswith(
                            "__"):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {base} import {alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in MODULES:
                        bound[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and bound[node.value.id] != name):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {bound[node.value.id]}.{node.attr}")
    return sorted(found)


def test_the_walk_sees_the_package() -> None:
    graph = import_graph()
    assert "controlroom.engine.session" in graph and "controlroom.widgets" in graph
    assert "controlroom.engine.rollback" in graph["controlroom.engine.session"]


def test_the_cycle_finder_finds_a_cycle_through_a_package() -> None:
    graph = {"p": {"p.a"}, "p.a": {"q"}, "q": {"p"}, "r": {"q"}}
    assert cycles(graph) == [["p", "p.a", "q"]]


def test_no_import_cycle_at_import_time() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles (module-level imports):\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_two_modules_need_each_other_even_through_lazy_imports() -> None:
    found = cycles(dependency_graph())
    assert found == KNOWN_CYCLES, "import cycles (lazy imports too):\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_dependency_walk_sees_lazy_imports_and_skips_type_checking_ones() -> None:
    graph = dependency_graph()
    assert "controlroom.app.entry" in graph["controlroom.cli"]  # imported inside cmd_run
    assert "controlroom.engine.session" not in graph["controlroom.engine.monitor"]  # only under TYPE_CHECKING


def test_no_module_imports_another_modules_private_names() -> None:
    found = private_imports()
    assert found == [], "private names used across modules:\n" + "\n".join(found)
