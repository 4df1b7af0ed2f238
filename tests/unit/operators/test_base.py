"""The step operators' shared construction: `kind_arguments` instead of an `__init__` per class."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from airflow.sdk import DAG, BaseOperator

from airflow_provider_mlpipe.operators.adla import AdlaStepOperator
from airflow_provider_mlpipe.operators.base import REQUIRED, PipelineStepOperator
from airflow_provider_mlpipe.operators.data_transfer import DataTransferStepOperator
from airflow_provider_mlpipe.operators.databricks import DatabricksStepOperator
from airflow_provider_mlpipe.operators.python_script import PythonScriptStepOperator
from airflow_provider_mlpipe.operators.remote import RemoteStepOperator

OPERATORS = [
    PipelineStepOperator,
    RemoteStepOperator,
    PythonScriptStepOperator,
    DataTransferStepOperator,
    DatabricksStepOperator,
    AdlaStepOperator,
]


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda c: c.__name__)
def test_no_step_operator_adds_an_init_level(operator):
    """Airflow wraps each class level with an `__init__` in apply_defaults (a deep copy of the
    DAG's params per level and task): the step operators share BaseOperator's one."""
    assert operator.__init__ is BaseOperator.__init__


def test_kind_arguments_from_kwargs_default_args_and_defaults():
    with DAG("kinds", schedule=None, default_args={"databricks_conn_id": "from_default_args"}):
        task = DatabricksStepOperator(
            task_id="t", step_name="t", task_spec={"kind": "notebook"}, cluster_spec={}, libraries=None
        )
    assert task.databricks_conn_id == "from_default_args"
    assert task.libraries == [] and task.inputs == [] and task.outputs == []
    assert task.run_name == "t", "prepare() derives the default run name from the step name"
    assert task.allow_reuse is True and task.deferrable is False


def test_a_missing_required_argument_and_an_unknown_one_are_refused():
    with pytest.raises(TypeError, match="PythonScriptStepOperator: missing keyword argument 'script_name'"):
        PythonScriptStepOperator(task_id="t", step_name="t", script_path="/x.py")
    with pytest.raises(TypeError, match="nonsense"):
        PythonScriptStepOperator(
            task_id="t", step_name="t", script_name="x.py", script_path="/x.py", nonsense=1
        )


def test_a_kind_with_its_own_init_still_gets_the_shared_arguments():
    class OwnInit(PipelineStepOperator):
        step_kind = "OwnInit"
        kind_arguments: ClassVar[dict[str, Any]] = {"size": 1}

        def __init__(self, *, colour: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.colour = colour

    task = OwnInit(task_id="t", step_name="s", colour="red", size=3)
    assert (task.step_name, task.size, task.colour) == ("s", 3, "red")
    assert OwnInit(task_id="u", step_name="s", colour="red").size == 1
    assert OwnInit.kind_arguments == {"size": 1}
    assert set(OwnInit._all_kind_arguments) >= {"step_name", "inputs", "outputs", "size"}
    assert PipelineStepOperator.kind_arguments["step_name"] is REQUIRED


def test_the_step_name_as_written_is_the_tasks_display_name():
    """Task instances keep it (`task_display_name`): `find_step_run("train.py")` looks it up there."""
    with DAG("names", schedule=None):
        task = PythonScriptStepOperator(
            task_id="train_py", step_name="train.py", script_name="train.py", script_path="/train.py"
        )
        own = PythonScriptStepOperator(
            task_id="t", step_name="t", script_name="x.py", script_path="/x.py", task_display_name="shown"
        )
    assert (task.task_id, task.task_display_name) == ("train_py", "train.py")
    assert own.task_display_name == "shown"
