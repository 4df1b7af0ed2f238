"""The package's layers point one way: checked on the module-level imports of every module.

Imports inside functions and under `TYPE_CHECKING` are not module-level (they run when used).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import airflow_provider_mlpipe

PACKAGE = airflow_provider_mlpipe.__name__
ROOT = Path(airflow_provider_mlpipe.__file__).parent
#: What authoring/ (definitions only) must not import when a DAG file imports a step.
LOWER_LAYERS = ("hooks", "runtime", "triggers", "operators", "api")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in ROOT.rglob("*.py")}


def package_modules(nodes: Iterable[ast.AST]) -> set[str]:
    """The package's modules that the import statements among `nodes` name."""
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in MODULES and name != PACKAGE}


def module_level_imports(path: Path) -> set[str]:
    """The package's modules that `path` imports when it is imported."""
    found: list[ast.AST] = []
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
            continue
        nodes = [statement] if isinstance(statement, ast.ClassDef) else ast.walk(statement)
        found.extend(nodes)
    return package_modules(found)


GRAPH = {name: module_level_imports(path) for name, path in MODULES.items()}


def test_authoring_imports_no_lower_layer_at_module_level():
    wrong = {
        name: sorted(d for d in deps if d.split(".")[1] in LOWER_LAYERS)
        for name, deps in GRAPH.items()
        if name.startswith(f"{PACKAGE}.authoring")
    }
    assert {name: deps for name, deps in wrong.items() if deps} == {}


def test_module_level_imports_have_no_cycle():
    assert cycles_in(GRAPH) == []


def test_the_check_sees_module_level_imports_and_skips_deferred_ones(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        f"from {PACKAGE}.runtime import usql\n"
        f"import {PACKAGE}.graph\n"
        "if TYPE_CHECKING:\n"
        f"    from {PACKAGE}.hooks.datastore import DatastoreClient\n"
        "def later():\n"
        f"    from {PACKAGE}.operators.base import PipelineStepOperator\n"
    )
    assert module_level_imports(sample) == {
        f"{PACKAGE}.runtime",
        f"{PACKAGE}.runtime.usql",
        f"{PACKAGE}.graph",
    }


def all_imports(path: Path) -> set[str]:
    """The package's modules that `path` imports anywhere, inside functions too (not for typing)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    return package_modules(node for node in ast.walk(tree) if id(node) not in typing_only)


def cycles_in(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for dependency in sorted(graph.get(name, ())):
            if dependency in path:
                cycles.append([*path[path.index(dependency) :], dependency])
            elif dependency not in done:
                visit(dependency, [*path, dependency])
        done.add(name)

    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    return cycles


def test_no_import_cycle_even_through_imports_inside_functions():
    graph = {name: all_imports(path) for name, path in MODULES.items()}
    assert cycles_in(graph) == []
