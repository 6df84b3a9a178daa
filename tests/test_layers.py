"""Tests that the package's folders are layers: the rules import no I/O, and no import cycles.

``wslib/core`` holds the chat's rules with no I/O; the folders around it (storage, server,
client, sync, notebook, teaching) do the I/O. Each folder's ``__init__`` says what it may
import; this test reads every module's imports from its source (no module is run) and checks
those promises, and that no two modules import each other, directly or around a loop.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "wslib"

# What each folder may import from the package, besides itself and ``wslib.exceptions``.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "storage": {"core"},
    "server": {"core", "storage"},
    "client": {"core"},
    "sync": {"core", "server", "client", "storage"},
    "teaching": {"core", "sync", "server", "client"},
    "notebook": {"core", "storage", "server", "client", "sync", "teaching"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Return the package modules that ``path`` imports, resolved to full dotted names.

    With ``top_level_only``, imports inside functions (made lazily, on first use) are left
    out; those under ``if TYPE_CHECKING:`` stay in, since a type checker follows them.
    """
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("wslib"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("wslib"))
        elif top_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        pending.extend(ast.iter_child_nodes(node))
    return {t for t in found if _exists(t)}


def _exists(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


MODULES = sorted(PACKAGE.rglob("*.py"))

LAYERED = [path for path in MODULES if path.parent != PACKAGE]


def folder(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_every_folder_has_a_rule() -> None:
    """Each layer folder in the package is one this test knows the import rule of."""
    folders = {path.parent.name for path in LAYERED}
    assert folders == set(ALLOWED)


@pytest.mark.parametrize("path", LAYERED, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_the_layers_its_folder_allows(path: Path) -> None:
    """A module imports nothing from a layer its folder's rule does not name (core: no I/O)."""
    own = path.parent.name
    bad = sorted(
        target
        for target in imports(path, top_level_only=False)
        if (layer := folder(target)) is not None and layer != own and layer not in ALLOWED[own]
    )
    assert bad == [], f"{module_name(path)} ({own}) may not import {bad}"


def test_the_top_level_modules_are_not_imported_by_the_layers() -> None:
    """Only ``wslib.exceptions`` (and ``__version__``) of the top level is used by a layer."""
    for path in LAYERED:
        for target in imports(path, top_level_only=False):
            if folder(target) is None and target not in {"wslib", "wslib.exceptions"}:
                raise AssertionError(f"{module_name(path)} imports {target}")


def test_no_import_cycles() -> None:
    """No module reaches itself through the imports made when modules load (type-only too)."""
    graph = {
        module_name(path): {t for t in imports(path, top_level_only=True) if t != module_name(path)}
        for path in MODULES
        if path.name != "__init__.py"
    }
    graph = {name: {t for t in targets if t in graph} for name, targets in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_readme_layout_names_every_folder_and_module() -> None:
    """README's Project layout names each layer folder and, under it, each of its modules."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Project layout", 1)[1].split("\n## ", 1)[0]
    entries = layout.split("  - `wslib/")[1:]
    described = {entry.split("/", 1)[0]: entry for entry in entries}
    assert set(described) == set(ALLOWED)
    for path in LAYERED:
        if path.name != "__init__.py":
            assert f"`{path.stem}`" in described[path.parent.name], path.relative_to(PACKAGE)


def test_every_package_path_named_in_the_prose_exists() -> None:
    """Each ``wslib/....py`` (or page) that README, docs or a notebook names is a real file."""
    root = PACKAGE.parent
    texts = [root / "README.md", *root.glob("docs/*.md"), *root.glob("notebooks/*.ipynb")]
    missing = sorted(
        f"{text.name}: {name}"
        for text in texts
        for name in re.findall(r"wslib/[\w/]+\.(?:py|html|js)", text.read_text(encoding="utf-8"))
        if not (root / name).is_file()
    )
    assert missing == []
