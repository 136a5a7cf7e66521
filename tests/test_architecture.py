"""The house rules, read from the imports of every module (``import`` statements, at any depth,
type-only ones included): dependencies point one way and no module grows past 500 lines.

- ``tasks`` imports nothing of ``engine`` or ``webapp``; ``engine`` imports nothing of ``webapp``,
  ``tasks`` or Flask (the service registry is handed to it at start-up).
- The shared vocabulary (``engine.clock``, ``errors``, ``actors``, ``roles``, ``services``) imports
  only itself; ``engine.store`` imports only itself and the vocabulary.
- Between the engine's packages, only the arrows of :data:`ALLOWED` exist: a new arrow fails here
  until it is added; an arrow no longer used fails too, so the table always tells the truth. Two
  packages may use each other's modules (the sandbox in ``modeling`` runs on the ``runtime``, which
  reads ``modeling``'s definitions), but no import cycle exists between modules at run time.
- Only the benchmarks talk to SpiffWorkflow from ``webapp``; pages go through the engine.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.support.paths import REPO_ROOT

PACKAGES = ("engine", "tasks", "webapp")
VOCABULARY = {"engine.clock", "engine.errors", "engine.actors", "engine.roles", "engine.services"}
MAX_LINES = 500

#: engine package -> the engine packages it may import (besides itself and the vocabulary)
ALLOWED: dict[str, set[str]] = {
    "engine.store": set(),
    "engine.calendar": {"engine.store"},
    "engine.forms": {"engine.store", "engine.modeling", "engine.runtime"},
    "engine.modeling": {"engine.store", "engine.forms", "engine.calendar", "engine.runtime", "engine.schema"},
    "engine.parties": {"engine.store", "engine.forms"},
    "engine.dashboard": {"engine.store", "engine.calendar"},
    "engine.runtime": {"engine.store", "engine.schema", "engine.calendar", "engine.forms", "engine.modeling",
                       "engine.parties", "engine.dashboard", "engine.lgpd"},
    "engine.lgpd": {"engine.store", "engine.parties", "engine.forms"},
    "engine.worker": {"engine.store", "engine.parties"},
    "engine.schema": {"engine.store", "engine.calendar", "engine.dashboard", "engine.forms", "engine.modeling",
                      "engine.parties", "engine.lgpd"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path, *, typing: bool = True) -> set[str]:
    """Every module a file imports, resolved to our modules where it names one (``from engine import clock``);
    without ``typing``, only what runs (imports under ``if TYPE_CHECKING:`` left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {id(inner) for node in ast.walk(tree)
                 if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
                 for inner in ast.walk(node)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if not typing and id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                names.add(candidate if candidate in MODULES else node.module)
    return names


IMPORTS = {name: _imports(path) for name, path in MODULES.items()}
RUNTIME_IMPORTS = {name: _imports(path, typing=False) for name, path in MODULES.items()}


def _top(name: str) -> str:
    return name.split(".")[0]


def _engine_package(name: str) -> str:
    """``engine.runtime.commands`` -> ``engine.runtime``; ``engine.clock`` stays itself."""
    return ".".join(name.split(".")[:2])


def _arrows(source_prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{module} -> {target}" for module, targets in IMPORTS.items()
                  if module == source_prefix or module.startswith(source_prefix + ".")
                  for target in targets if _top(target) in forbidden)


def test_tasks_import_nothing_of_engine_or_webapp() -> None:
    assert _arrows("tasks", ("engine", "webapp")) == []


def test_engine_imports_nothing_of_webapp_tasks_or_flask() -> None:
    assert _arrows("engine", ("webapp", "tasks", "flask", "flask_wtf", "flask_smorest", "authlib")) == []


def test_vocabulary_imports_only_vocabulary() -> None:
    wrong = sorted(f"{module} -> {target}" for module in VOCABULARY for target in IMPORTS[module]
                   if _top(target) == "engine" and target not in VOCABULARY)
    assert wrong == []


def test_store_imports_only_store_and_vocabulary() -> None:
    wrong = sorted(f"{module} -> {target}" for module, targets in IMPORTS.items()
                   if module.startswith("engine.store") for target in targets
                   if _top(target) == "engine" and target not in VOCABULARY and not target.startswith("engine.store"))
    assert wrong == []


def _package_arrows() -> dict[str, set[str]]:
    arrows: dict[str, set[str]] = defaultdict(set)
    for module, targets in IMPORTS.items():
        if _top(module) != "engine" or module == "engine" or module in VOCABULARY:
            continue
        source = _engine_package(module)
        for target in targets:
            if _top(target) != "engine" or target == "engine" or target in VOCABULARY:
                continue
            if _engine_package(target) != source:
                arrows[source].add(_engine_package(target))
    return arrows


def test_engine_packages_import_only_allowed_packages() -> None:
    arrows = _package_arrows()
    new = sorted(f"{source} -> {target}" for source, targets in arrows.items()
                 for target in targets - ALLOWED.get(source, set()))
    stale = sorted(f"{source} -> {target}" for source, targets in ALLOWED.items()
                   for target in targets - arrows.get(source, set()))
    assert new == [], "new arrows between engine packages: add them to ALLOWED only if the design wants them"
    assert stale == [], "ALLOWED lists arrows nobody uses any more: remove them"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_modules() -> None:
    """Module by module, at run time (a type-only import is an annotation, not a dependency)."""
    graph = {module: {target for target in targets if target in MODULES and target != module}
             for module, targets in RUNTIME_IMPORTS.items()}
    # a package's __init__ re-exports its modules: those arrows are the package's surface, not a dependency
    graph = {module: {t for t in targets if not (MODULES[module].name == "__init__.py" and t.startswith(module + "."))}
             for module, targets in graph.items()}
    assert _cycle(graph) is None


def test_cycle_finder_sees_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_benchmarks_talk_to_spiffworkflow_from_webapp() -> None:
    talking = sorted(module for module, targets in IMPORTS.items()
                     if module.startswith("webapp") and not module.startswith("webapp.bench")
                     and any(_top(target) == "SpiffWorkflow" for target in targets))
    assert talking == []


def test_no_module_over_500_lines() -> None:
    long = sorted(f"{name}: {lines}" for name, path in MODULES.items()
                  if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES)
    assert long == []


def test_every_module_says_its_job() -> None:
    silent = sorted(name for name, path in MODULES.items()
                    if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None)
    assert silent == []
