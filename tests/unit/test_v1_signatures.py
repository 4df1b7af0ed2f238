"""Our v1 names take v1's parameters, in v1's order, with v1's defaults (issue 13's rule).

The fixture is v1's signatures as `scripts/v1_signatures.py` recorded them from the v1 wheels.
Our callables may add parameters after v1's, each with a default. The few deliberate differences
are listed in `ALLOWED` with what differs; the test fails if that list goes stale.
"""

from __future__ import annotations

import ast
import inspect
import json
from typing import Any

import pytest

import airflow_provider_mlpipe as mlpipe
from airflow_provider_mlpipe.runs import StepRunOutput
from tests.conftest import TESTS

FIXTURE = TESTS / "unit" / "fixtures" / "v1_signatures.json"
V1: dict[str, list[list[Any]]] = json.loads(FIXTURE.read_text())

#: v1 class name -> ours (importable from the package).
OURS = {
    "Workspace": mlpipe.Workspace,
    "Experiment": mlpipe.Experiment,
    "ComputeTarget": mlpipe.ComputeTarget,
    "PublishedPipeline": mlpipe.PublishedPipeline,
    "Datastore": mlpipe.Datastore,
    # v1's datastore classes' methods are our one Datastore's.
    "AbstractAzureStorageDatastore": mlpipe.Datastore,
    "AzureBlobDatastore": mlpipe.Datastore,
    "DataReference": mlpipe.DataReference,
    "PipelineData": mlpipe.PipelineData,
    "PipelineParameter": mlpipe.PipelineParameter,
    "DataPath": mlpipe.DataPath,
    "DataPathComputeBinding": mlpipe.DataPathComputeBinding,
    "Pipeline": mlpipe.Pipeline,
    "PythonScriptStep": mlpipe.PythonScriptStep,
    "DatabricksStep": mlpipe.DatabricksStep,
    "AdlaStep": mlpipe.AdlaStep,
    "DataTransferStep": mlpipe.DataTransferStep,
    "ScheduleRecurrence": mlpipe.ScheduleRecurrence,
    "Schedule": mlpipe.Schedule,
    "Run": mlpipe.Run,
    "PipelineRun": mlpipe.PipelineRun,
    "StepRun": mlpipe.StepRun,
    "StepRunOutput": StepRunOutput,
    "PortDataReference": mlpipe.PortDataReference,
    "PipelineEndpoint": mlpipe.PipelineEndpoint,
    "StepSequence": mlpipe.StepSequence,
}

#: Deliberate differences, each with why (the test fails if one stops being true or needed).
ALLOWED: dict[str, str] = {
    # `Experiment("name")`: the short form for the embedded local workspace.
    "azureml/core/experiment.py:Experiment.__init__": "name has a default (None), v1's is required",
    # `Pipeline([steps])` and `Pipeline(steps=[...])`: short forms for the embedded local workspace.
    "azureml/pipeline/core/pipeline.py:Pipeline.__init__": (
        "workspace has a default (None), v1's is required; steps has a default (None), v1's is required"
    ),
}


def differences(v1: list[list[Any]], ours: inspect.Signature) -> list[str]:
    """How our parameters differ from v1's: names and order, defaults, extras without default."""
    # v1's private parameters (`_workflow_provider`...) are its internals: compared are the public ones.
    mine = [
        p for p in ours.parameters.values() if p.name not in ("self", "cls") and not p.name.startswith("_")
    ]
    problems = []
    public = [entry for entry in v1 if not entry[0].startswith("_")]
    for index, (name, kind, default) in enumerate(public):
        if kind in ("var_positional", "var_keyword"):
            if not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in mine):
                problems.append(f"takes no **{name}")
            continue
        if index >= len(mine) or mine[index].name != name:
            got = mine[index].name if index < len(mine) else "nothing"
            problems.append(f"parameter {index} is {got!r}, v1's is {name!r}")
            continue
        ours_default = mine[index].default
        if default is None:
            if ours_default is not inspect.Parameter.empty:
                problems.append(f"{name} has a default ({ours_default!r}), v1's is required")
        elif ours_default is inspect.Parameter.empty:
            problems.append(f"{name} is required, v1's default is {default}")
        else:
            try:
                wanted = ast.literal_eval(default)
            except ValueError:
                continue  # a default v1 computes (a constant of its own): the name and order suffice
            if ours_default != wanted:
                problems.append(f"{name} defaults to {ours_default!r}, v1's to {default}")
    for extra in mine[len(public) :]:
        if extra.default is inspect.Parameter.empty and extra.kind not in (
            extra.VAR_POSITIONAL,
            extra.VAR_KEYWORD,
        ):
            problems.append(f"our extra parameter {extra.name!r} has no default")
    return problems


def our_callable(entry: str) -> Any:
    class_name, method = entry.split(":")[1].split(".")
    target = OURS[class_name]
    return target if method == "__init__" else getattr(target, method)


def found_differences() -> dict[str, str]:
    found = {}
    for entry, v1 in V1.items():
        target = our_callable(entry)
        if not callable(target):
            found[entry] = "missing"
            continue
        problems = differences(v1, inspect.signature(target))
        if problems:
            found[entry] = "; ".join(problems)
    return found


def test_every_recorded_v1_callable_has_our_name():
    missing = []
    for entry in V1:
        class_name, method = entry.split(":")[1].split(".")
        if class_name not in OURS or (method != "__init__" and not hasattr(OURS[class_name], method)):
            missing.append(entry)
    assert missing == []


def test_signatures_match_v1_except_the_deliberate_differences():
    assert found_differences() == ALLOWED


@pytest.mark.parametrize(
    ("v1", "ours", "problem"),
    [
        ([["a", "positional", None], ["b", "positional", "1"]], "def f(a, b=2): pass", "b defaults to 2"),
        ([["a", "positional", None], ["b", "positional", "1"]], "def f(b, a=1): pass", "parameter 0 is 'b'"),
        ([["a", "positional", None]], "def f(a, extra): pass", "'extra' has no default"),
        ([["a", "positional", "None"]], "def f(a): pass", "a is required"),
    ],
)
def test_the_comparison_sees_each_kind_of_difference(v1, ours, problem):
    namespace: dict[str, Any] = {}
    exec(ours, namespace)  # noqa: S102 - a fixed snippet of this test
    assert any(problem in text for text in differences(v1, inspect.signature(namespace["f"])))
