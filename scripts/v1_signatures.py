"""Record v1's signatures (names, order, defaults) from the v1 wheels, as a JSON fixture.

Usage: `python scripts/v1_signatures.py WHEEL_DIR > tests/unit/fixtures/v1_signatures.json`, with
the wheels of `pip download --no-deps azureml-core azureml-pipeline-core azureml-pipeline-steps`.
Reads the sources as text (Python's `ast`); nothing of v1 is imported or copied but the parameter
names and the source text of their defaults. `CALLABLES` lists what is recorded:
`"<module path in the wheel>:<Class>.<method>"`, `__init__` for a constructor.
"""

from __future__ import annotations

import ast
import json
import sys
import zipfile
from pathlib import Path

CALLABLES = [
    "azureml/core/datastore.py:Datastore.__init__",
    "azureml/core/datastore.py:Datastore.get",
    "azureml/core/datastore.py:Datastore.get_default",
    "azureml/data/data_reference.py:DataReference.__init__",
    "azureml/data/data_reference.py:DataReference.as_mount",
    "azureml/pipeline/core/builder.py:PipelineData.__init__",
    "azureml/pipeline/core/builder.py:PipelineData.as_input",
    "azureml/pipeline/core/graph.py:PipelineParameter.__init__",
    "azureml/data/datapath.py:DataPath.__init__",
    "azureml/data/datapath.py:DataPathComputeBinding.__init__",
    "azureml/pipeline/core/pipeline.py:Pipeline.__init__",
    "azureml/pipeline/steps/python_script_step.py:PythonScriptStep.__init__",
    "azureml/pipeline/steps/databricks_step.py:DatabricksStep.__init__",
    "azureml/pipeline/steps/adla_step.py:AdlaStep.__init__",
    "azureml/pipeline/steps/data_transfer_step.py:DataTransferStep.__init__",
    "azureml/pipeline/core/schedule.py:ScheduleRecurrence.__init__",
]


def signature(tree: ast.Module, qualified: str) -> list[list[str | None]]:
    """[[name, kind, default source or None], ...] of `Class.method`, without `self`/`cls`."""
    class_name, method = qualified.split(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == method:
                    return _parameters(item)
    raise LookupError(f"{qualified} not found")


def _parameters(function: ast.FunctionDef) -> list[list[str | None]]:
    arguments = function.args
    positional = arguments.posonlyargs + arguments.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults)) + list(
        arguments.defaults
    )
    found = [
        [a.arg, "positional", None if d is None else ast.unparse(d)]
        for a, d in zip(positional, defaults, strict=True)
    ]
    if arguments.vararg:
        found.append([arguments.vararg.arg, "var_positional", None])
    for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        found.append([a.arg, "keyword_only", None if d is None else ast.unparse(d)])
    if arguments.kwarg:
        found.append([arguments.kwarg.arg, "var_keyword", None])
    is_static = any(ast.unparse(d) == "staticmethod" for d in function.decorator_list)
    return found if is_static else found[1:]


def main(wheel_dir: str) -> None:
    sources: dict[str, str] = {}
    for wheel in sorted(Path(wheel_dir).glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if name.endswith(".py"):
                    sources[name] = archive.read(name).decode("utf-8")
    recorded = {}
    for entry in CALLABLES:
        path, qualified = entry.split(":")
        recorded[entry] = signature(ast.parse(sources[path]), qualified)
    json.dump(recorded, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
