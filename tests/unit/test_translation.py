"""Translation: one task per step, edges from data and run_after, typed params, queues, groups."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk import DAG

from airflow_provider_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep
from airflow_provider_mlpipe.operators.python_script import PythonScriptStepOperator

#: A script that exists beside this DAG-defining file: the test module itself.
THIS_FILE = Path(__file__).name


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "a.py").write_text("")
    return tmp_path


def test_one_task_per_step_with_edges_from_data_and_run_after(src):
    data = PipelineData("d")
    produce = PythonScriptStep("a.py", name="produce data", outputs=[data], source_directory=src)
    consume = PythonScriptStep("a.py", name="consume", inputs=[data], arguments=[data], source_directory=src)
    last = PythonScriptStep("a.py", name="last", source_directory=src)
    last.run_after(consume)
    dag = Pipeline([last, consume, produce]).to_dag("edges")

    assert sorted(dag.task_dict) == ["consume", "last", "produce_data"]
    assert all(isinstance(t, PythonScriptStepOperator) for t in dag.tasks)
    assert dag.task_dict["consume"].upstream_task_ids == {"produce_data"}
    assert dag.task_dict["last"].upstream_task_ids == {"consume"}
    consume_task = dag.task_dict["consume"]
    assert consume_task.inputs == [
        {
            "name": "d",
            "mode": "mount",
            "producer": "produce data",
            "output_name": "d",
            "producer_task_id": "produce_data",
        }
    ]
    assert consume_task.arguments == [{"input": "d"}]
    assert dag.task_dict["produce_data"].outputs == [
        {"name": "d", "datastore": None, "is_directory": None, "mode": "mount"}
    ]


def test_parameters_become_typed_dag_params():
    params = {
        "count": PipelineParameter("count", 10),
        "rate": PipelineParameter("rate", 0.5),
        "label": PipelineParameter("label", "x"),
        "flag": PipelineParameter("flag", True),
    }
    step = PythonScriptStep(
        THIS_FILE,
        name="s",
        source_directory=".",
        arguments=[params["count"], params["rate"]],
        params={"label": params["label"], "flag": params["flag"], "fixed": 3},
    )
    dag = Pipeline([step]).to_dag("typed")
    schema = {name: dag.params.get_param(name).schema["type"] for name in params}
    assert schema == {"count": "integer", "rate": ["number", "integer"], "label": "string", "flag": "boolean"}
    assert dag.params["count"] == 10 and dag.params["flag"] is True
    assert dag.task_dict["s"].arguments == [{"parameter": "count"}, {"parameter": "rate"}]
    assert dag.task_dict["s"].step_params == {
        "label": {"parameter": "label"},
        "flag": {"parameter": "flag"},
        "fixed": {"value": "3"},
    }


def test_a_param_of_the_wrong_type_is_refused_by_airflow():
    from airflow.sdk.exceptions import ParamValidationError

    step = PythonScriptStep(THIS_FILE, name="s", source_directory=".", arguments=[PipelineParameter("n", 1)])
    dag = Pipeline([step]).to_dag("wrong_type")
    with pytest.raises(ParamValidationError):
        dag.params.get_param("n").resolve("twenty")


def test_description_compute_target_and_dag_kwargs(src):
    step = PythonScriptStep("a.py", name="gpu step", compute_target="gpu", source_directory=src)
    dag = Pipeline([step], description="Trains things.\nMore words.").to_dag("docs", tags=["x"])
    assert dag.doc_md == "Trains things.\nMore words."
    assert dag.description == "Trains things."
    assert dag.schedule is None
    assert dag.tags == {"x", "mlpipe"}
    assert dag.task_dict["gpu_step"].queue == "gpu"


def test_to_task_group_adds_prefixed_tasks_and_params_to_the_current_dag(src):
    data = PipelineData("d")
    produce = PythonScriptStep("a.py", name="produce", outputs=[data], source_directory=src)
    consume = PythonScriptStep(
        "a.py", name="consume", inputs=[data], arguments=[PipelineParameter("n", 3)], source_directory=src
    )
    with DAG("grouped", schedule=None) as dag:
        group = Pipeline([produce, consume]).to_task_group("training")
    assert group.group_id == "training"
    assert sorted(dag.task_dict) == ["training.consume", "training.produce"]
    assert dag.task_dict["training.consume"].inputs[0]["producer_task_id"] == "training.produce"
    assert dag.params["n"] == 3


def test_to_task_group_outside_a_dag_is_a_clear_error(src):
    with pytest.raises(RuntimeError, match="inside `with DAG"):
        Pipeline([PythonScriptStep("a.py", source_directory=src)]).to_task_group("g")


def test_regenerate_outputs_is_a_boolean_param_with_the_to_dag_default(src):
    step = PythonScriptStep("a.py", name="s", source_directory=src)
    assert Pipeline([step]).to_dag("regen_default").params.get_param("regenerate_outputs").value is False
    dag = Pipeline([step]).to_dag("regen_on", regenerate_outputs=True)
    assert dag.params.get_param("regenerate_outputs").schema["type"] == "boolean"
    assert dag.params["regenerate_outputs"] is True and dag.task_dict["s"].regenerate_outputs is True


def test_regenerate_outputs_is_a_reserved_parameter_name(src):
    step = PythonScriptStep(
        "a.py", name="s", source_directory=src, arguments=[PipelineParameter("regenerate_outputs", 1)]
    )
    assert Pipeline([step]).validate() == [
        "PipelineParameter name 'regenerate_outputs' is reserved for a run control"
    ]
