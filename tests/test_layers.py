"""The package's floors: every import points down, none goes round in a circle.

model <- recording <- roads, checks <- reports <- _pytest, cli <- plugin, the public face. Every
import counts: module level, inside a function, and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_hybrid_analytics

PACKAGE = Path(pytest_hybrid_analytics.__file__).parent
NAME = "pytest_hybrid_analytics"

#: Each floor, lowest first; a module may import its own floor and the floors below.
FLOORS: dict[str, int] = {
    "_model": 0,
    "_recording": 1,
    "_roads": 2,
    "_checks": 2,
    "_reports": 3,
    "_pytest": 4,
    "cli": 4,
    "plugin": 5,
    "": 6,  # the package's __init__: the public face
}
#: Rooms on one floor that stay out of each other's way.
NEIGHBOURS_APART = {frozenset({"_roads", "_checks"}), frozenset({"_pytest", "cli"})}
#: Third-party modules only the pytest floors may import.
PYTEST_ONLY = ("pytest", "_pytest", "playwright", "pytest_playwright")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((NAME, *parts))] = path
    return found


MODULES = _modules()


def _room(module: str) -> str:
    rest = module.removeprefix(NAME).lstrip(".")
    return rest.split(".", 1)[0]


def _imports(module: str, source: str | None = None) -> list[tuple[int, str]]:
    """Every module of the package (and every third-party top name) ``module`` imports."""
    text = source if source is not None else MODULES[module].read_text(encoding="utf-8")
    tree = ast.parse(text)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if MODULES[module].name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.append((node.lineno, full if full in MODULES else target))
    return out


def _own(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def test_the_floors_cover_every_module() -> None:
    rooms = {_room(module) for module in MODULES}
    assert rooms - set(FLOORS) == set(), "a new room needs a floor in FLOORS"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    room = _room(module)
    wrong = []
    for line, target in _imports(module):
        own = _own(target) if target.startswith(NAME) else None
        if own is None:
            if room not in ("_pytest", "plugin") and target.split(".")[0] in PYTEST_ONLY:
                wrong.append(f"line {line}: {target} (the core imports no pytest or Playwright)")
            continue
        other = _room(own)
        if own == module or module.startswith(own + "."):
            continue  # itself, or its own package's docstring-only __init__
        if FLOORS[other] > FLOORS[room]:
            wrong.append(f"line {line}: {own} is on floor {other!r}, above {room or 'the face'!r}")
        elif other != room and frozenset({room, other}) in NEIGHBOURS_APART:
            wrong.append(
                f"line {line}: {own} is a neighbour ({other}) that {room} keeps apart from"
            )
    assert wrong == [], f"{module} imports upwards:\n" + "\n".join(wrong)


def test_no_import_cycle() -> None:
    edges = {m: set() for m in MODULES}
    for module in MODULES:
        for _, target in _imports(module):
            own = _own(target) if target.startswith(NAME) else None
            if own and own != module and not module.startswith(own + "."):
                edges[module].add(own)
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module)
    assert cycles == []


def test_the_walker_sees_type_checking_local_and_relative_imports() -> None:
    """The walk counts imports a naive check would miss, so an upward one cannot hide there."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        f"    from {NAME}._reports.audit import Audit\n"
        "def later():\n"
        f"    import {NAME}._roads.harness\n"
        "from ..identity import Identity\n"
    )
    found = [target for _, target in _imports(f"{NAME}._model.events", source)]
    assert f"{NAME}._reports.audit" in found
    assert f"{NAME}._roads.harness" in found
    assert any(t.endswith("identity") for t in found)


def test_subpackage_inits_import_nothing() -> None:
    """A room's ``__init__`` is a docstring: importing one module never loads its neighbours."""
    for module, path in MODULES.items():
        if path.name == "__init__.py" and module != NAME:
            assert _imports(module) == [], module
