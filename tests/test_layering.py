"""The layering is kept, not just drawn: an import-graph walk (ast, no new dependency).

Layers, lowest first: ``chggen_kernels`` (pure computation), ``campaign`` (orchestration,
CLI), ``chggen`` (the public API, a facade over both). Inside ``campaign`` the rooms are
layers too (:data:`CAMPAIGN_ROOMS`, docs/architecture.md). Nothing imports upward (not even
inside a function), and no module-level import cycle exists among the three packages'
modules (imports inside functions, which run late, and ``if TYPE_CHECKING:`` blocks are
not module-level).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("chggen_kernels", "campaign", "chggen")  # lowest first
#: the rooms of ``campaign``, lowest first (``cli``: the module ``campaign.cli``)
CAMPAIGN_ROOMS = ("engine", "stages", "inputs", "config", "jobs", "distributed", "report",
                  "commands", "cli")


def _modules() -> dict[str, Path]:
    out = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str, path: Path, modules: dict[str, Path], everywhere: bool) -> set[str]:
    """Modules of the three packages that ``name`` imports (module level only unless
    ``everywhere``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = ast.walk(tree) if everywhere else tree.body
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved and resolved != name:
                found.add(resolved)
    return found


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_nothing_imports_upward():
    modules = _modules()
    upward = sorted(f"{name} imports {target}"
                    for name, path in modules.items()
                    for target in _imports(name, path, modules, everywhere=True)
                    if _layer(target) > _layer(name))
    assert upward == []


def _room(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "campaign" or len(parts) < 2:
        return None
    return CAMPAIGN_ROOMS.index(parts[1])


def test_no_room_of_campaign_imports_a_higher_room():
    modules = _modules()
    loose = sorted(n for n in modules if n.startswith("campaign.") and _room_name(n) is None)
    assert loose == []  # every module lives in a room
    upward = sorted(f"{name} imports {target}"
                    for name, path in modules.items() if _room(name) is not None
                    for target in _imports(name, path, modules, everywhere=True)
                    if _room(target) is not None and _room(target) > _room(name))
    assert upward == []


def _room_name(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in CAMPAIGN_ROOMS else None


def test_no_module_level_import_cycle():
    modules = _modules()
    graph = {name: _imports(name, path, modules, everywhere=False)
             for name, path in modules.items()}
    assert _cycles(graph) == []


def test_the_checks_see_a_cycle_and_an_upward_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _layer("chggen_kernels.x") < _layer("campaign.y") < _layer("chggen.z")
    assert _room("campaign.engine.store") < _room("campaign.jobs.chain") < _room(
        "campaign.commands.top") < _room("campaign.cli")
    assert _room_name("campaign.loose") is None


@pytest.mark.parametrize("package", LAYERS)
def test_every_package_has_modules(package):
    assert any(name.startswith(package) for name in _modules())
