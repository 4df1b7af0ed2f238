"""Step kinds: one registry line maps an authoring step class to its operator; translation has
one factory for every kind, and a kind from another package plugs in the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep
from airflow_provider_mlpipe.authoring.errors import PipelineValidationError
from airflow_provider_mlpipe.authoring.steps import PipelineStep
from airflow_provider_mlpipe.operators.python_script import PythonScriptStepOperator
from airflow_provider_mlpipe.step_kinds import STEP_KINDS, operator_path_for, register_step_kind
from tests.example_kind.greet_operator import GreetStepOperator
from tests.example_kind.greet_step import GreetStep


class UnregisteredStep(GreetStep):
    pass


@pytest.fixture
def greet_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry as it is, restored after the test (the example kind registered itself on import)."""
    monkeypatch.setattr("airflow_provider_mlpipe.step_kinds.STEP_KINDS", dict(STEP_KINDS))


def test_a_registered_kind_becomes_its_operator_with_its_own_and_the_shared_arguments(greet_kind):
    out = PipelineData("greeting")
    who = PipelineParameter("who", "world")
    dag = Pipeline([GreetStep("greet", who, outputs=[out])]).to_dag("greetings")

    task = dag.task_dict["greet"]
    assert type(task) is GreetStepOperator
    assert task.whom == {"parameter": "who"}
    assert task.step_name == "greet" and task.outputs[0]["name"] == "greeting"
    assert dag.params["who"] == "world", "the kind's parameters become DAG params like any other's"


def test_a_subclass_runs_on_its_nearest_registered_base_and_unknown_kinds_are_named(
    greet_kind, tmp_path: Path
):
    (tmp_path / "a.py").write_text("")

    class MyScriptStep(PythonScriptStep):
        pass

    step = MyScriptStep("a.py", name="mine", source_directory=str(tmp_path))
    assert type(Pipeline([step]).to_dag("mine").task_dict["mine"]) is PythonScriptStepOperator
    assert operator_path_for(UnregisteredStep("u", "x")).endswith(".GreetStepOperator")

    class Orphan(PipelineStep):
        pass

    with pytest.raises(
        PipelineValidationError, match=r"step 'lost': no operator is registered for step kind"
    ):
        Pipeline([Orphan("lost")]).to_dag("orphans")


def test_register_step_kind_takes_dotted_paths(greet_kind):
    with pytest.raises(ValueError, match="operator_class must be a dotted path"):
        register_step_kind("tests.example_kind.greet_step.GreetStep", GreetStepOperator)  # type: ignore[arg-type]
