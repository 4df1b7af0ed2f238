"""The step kinds: which operator runs each authoring step class, one line per kind.

Plain dotted paths, so this module imports nothing and the translation builds every task with
one factory instead of a chain of `isinstance` checks. A kind from another package plugs in
with `register_step_kind("pkg.authoring.MyStep", "pkg.operators.MyStepOperator")`, called by
the module that defines `MyStep`; its step class supplies `operator_kwargs()`.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

_AUTHORING = "airflow_provider_mlpipe.authoring"
_OPERATORS = "airflow_provider_mlpipe.operators"

#: Authoring step class -> the operator class that runs it (both as dotted paths).
STEP_KINDS: dict[str, str] = {
    f"{_AUTHORING}.steps.PythonScriptStep": f"{_OPERATORS}.python_script.PythonScriptStepOperator",
    f"{_AUTHORING}.databricks.DatabricksStep": f"{_OPERATORS}.databricks.DatabricksStepOperator",
    f"{_AUTHORING}.adla.AdlaStep": f"{_OPERATORS}.adla.AdlaStepOperator",
    f"{_AUTHORING}.transfer.DataTransferStep": f"{_OPERATORS}.data_transfer.DataTransferStepOperator",
}


def class_path(cls: type) -> str:
    """`module.QualifiedName` of a class, the key of `STEP_KINDS`."""
    return f"{cls.__module__}.{cls.__qualname__}"


def register_step_kind(step_class: str, operator_class: str) -> None:
    """Make `operator_class` run the steps of `step_class` (and of its subclasses)."""
    for label, path in (("step_class", step_class), ("operator_class", operator_class)):
        if not isinstance(path, str) or "." not in path.strip("."):
            raise ValueError(f"register_step_kind: {label} must be a dotted path, got {path!r}")
    STEP_KINDS[step_class] = operator_class


def operator_path_for(step: Any) -> str:
    """The operator class path for `step`: its own class's entry, else its nearest base class's."""
    for cls in type(step).__mro__:
        path = STEP_KINDS.get(class_path(cls))
        if path is not None:
            return path
    raise TypeError(
        f"step {getattr(step, 'name', step)!r}: no operator is registered for step kind "
        f"{class_path(type(step))} (register one with "
        "airflow_provider_mlpipe.step_kinds.register_step_kind)"
    )


@functools.lru_cache(maxsize=256)
def import_class(path: str) -> type:
    """The class at dotted `path`, imported when a task is built (not when a kind is registered)."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)
