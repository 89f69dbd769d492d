"""Which package may import which: the layering of docs/ARCHITECTURE.md, checked on the source.

Every ``import`` counts, including the lazy ones inside functions: a lazy import is still a
dependency (it only moves the failure to run time). Orchestration-only libraries (dagster,
wandb) may be imported lazily by library code but never at module level, so the library stays
importable where they are not installed (IsaacGym's Python 3.8).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]

#: package → the project packages it may import. Lower layers first:
#: motion ← robots ← training, retarget ← evaluation ← mimic (CLI) ← assets ← pipelines.
ALLOWED: Dict[str, Set[str]] = {
    "motion": set(),
    "robots": {"motion"},
    "training": {"motion", "robots"},
    "retarget": {"motion", "robots"},
    "evaluation": {"motion", "robots", "training", "retarget"},
    "mimic": {"motion", "robots", "training", "retarget", "evaluation"},
    # Dagster assets and pipelines drive the library; assets read pipelines' resources.
    "assets": {"motion", "robots", "training", "retarget", "evaluation", "pipelines"},
    "pipelines": {"motion", "robots", "training", "retarget", "evaluation", "assets"},
}
LIBRARY = ("motion", "robots", "training", "retarget", "evaluation", "mimic")
MODULE_LEVEL_FORBIDDEN = ("dagster", "dagster_pipes", "wandb")


def _imports(path: Path, module_level_only: bool = False) -> Iterator[Tuple[str, int]]:
    """(imported module, line) of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = _module_level(tree.body) if module_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno


def _module_level(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run at import time: the body, and inside module-level if/try/with blocks."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, block, []) or [])
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def layering_violations(root: Path, allowed: Dict[str, Set[str]]) -> List[str]:
    """``file:line imports X`` for every import of a project package that ``allowed`` forbids."""
    found = []
    for package, may_import in allowed.items():
        for path in sorted((root / package).rglob("*.py")):
            for name, line in _imports(path):
                top = name.split(".")[0]
                if top in allowed and top != package and top not in may_import:
                    found.append(f"{path.relative_to(root)}:{line} imports {name}")
    return found


def test_packages_import_only_the_layers_below_them() -> None:
    assert layering_violations(REPO, ALLOWED) == []


def test_training_and_evaluation_do_not_import_each_other() -> None:
    assert "evaluation" not in ALLOWED["training"]  # evaluation builds on training, never the reverse
    assert "training" not in ALLOWED["motion"] and "training" not in ALLOWED["robots"]


def test_no_library_module_imports_dagster_or_wandb_at_module_level() -> None:
    found = []
    for package in LIBRARY:
        for path in sorted((REPO / package).rglob("*.py")):
            for name, line in _imports(path, module_level_only=True):
                if name.split(".")[0] in MODULE_LEVEL_FORBIDDEN:
                    found.append(f"{path.relative_to(REPO)}:{line} imports {name} at module level")
    assert found == []


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    """The unit cycles are checked between: a top-level module or a subpackage of a package
    (``training.simulator.base`` → ``training.simulator``; ``training.terrain`` stays)."""
    return ".".join(module.split(".")[:2])


def import_cycles(root: Path, packages: Tuple[str, ...]) -> List[List[str]]:
    """Cycles between the project's modules and subpackages (:func:`_unit`), lazy imports included."""
    modules = {_module_name(p, root): p for package in packages for p in (root / package).rglob("*.py")}
    graph: Dict[str, Set[str]] = {_unit(name): set() for name in modules}
    for name, path in modules.items():
        for imported, _line in _imports(path):
            # `from a.b import c` may name the module a.b.c or an attribute of a.b
            for candidate in (imported, imported.rsplit(".", 1)[0]):
                if candidate in modules:
                    if _unit(candidate) != _unit(name):
                        graph[_unit(name)].add(_unit(candidate))
                    break
    cycles: List[List[str]] = []
    seen: Set[frozenset] = set()
    state: Dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: List[str]) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    cycles.append(cycle + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return cycles


def test_library_modules_and_subpackages_have_no_import_cycles() -> None:
    assert import_cycles(REPO, LIBRARY) == []


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A tiny tree with one upward import (motion → training) and one cycle (a ↔ b)."""
    for package, files in {
        "motion": {"__init__.py": "", "clips.py": "def f():\n    from training.robots import x\n"},
        "training": {
            "__init__.py": "",
            "a.py": "from training.b import y\n",
            "b.py": "def g():\n    import training.a\n",
        },
    }.items():
        (tmp_path / package).mkdir()
        for name, text in files.items():
            (tmp_path / package / name).write_text(text)
    return tmp_path


def test_the_checks_find_a_planted_upward_import_and_cycle(planted: Path) -> None:
    allowed = {"motion": set(), "training": {"motion"}}
    assert layering_violations(planted, allowed) == ["motion/clips.py:2 imports training.robots"]
    assert import_cycles(planted, ("motion", "training")) == [["training.a", "training.b", "training.a"]]


def test_the_architecture_page_draws_these_layers() -> None:
    """docs/ARCHITECTURE.md's layer line: every folder may import every folder to its left."""
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("motion/ ◀── "))
    groups = [[name.strip().rstrip("/") for name in part.replace("⇄", ",").split(",")] for part in line.split("◀──")]
    assert [name for group in groups for name in group] == list(ALLOWED)
    for index, group in enumerate(groups):
        for package in group:
            below = {name for earlier in groups[:index] for name in earlier}
            assert below <= ALLOWED[package], (package, below - ALLOWED[package])
