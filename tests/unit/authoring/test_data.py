"""DataPath parameters: v1's per-run data binding, from authoring to real dag.test() runs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from airflow_provider_mlpipe import (
    DataPath,
    DataPathComputeBinding,
    Datastore,
    Pipeline,
    PipelineParameter,
    PythonScriptStep,
)
from airflow_provider_mlpipe.authoring.data import DataPathInput
from airflow_provider_mlpipe.runtime.step_data import AttemptData, StepDataError
from tests.integration.dagruns import run_dag, task_states, write_project, xcom_value
from tests.services.azurite import airflow_conn_env


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text("")
    return tmp_path


def data_path_param(path: str = "raw/2026-11", store: str | None = "blobs") -> PipelineParameter:
    datastore = Datastore(store) if store else None
    return PipelineParameter(
        name="input_data", default_value=DataPath(datastore=datastore, path_on_datastore=path)
    )


# Authoring


def test_data_path_and_binding_check_their_arguments():
    assert DataPath().datastore is None and DataPath().path_on_datastore == ""
    assert DataPath(Datastore("blobs"), "a") == DataPath(Datastore("blobs"), "a")
    assert len({DataPath(Datastore("blobs"), "a"), DataPath(Datastore("blobs"), "a")}) == 1
    assert DataPath(Datastore("blobs"), "a") != DataPath(Datastore("blobs"), "b")
    assert repr(DataPath(Datastore("blobs"), "a")) == "DataPath(Datastore('blobs'), 'a')"
    assert DataPathComputeBinding().mode == "mount" and DataPathComputeBinding("download").mode == "download"
    with pytest.raises(ValueError, match="mode 'upload' is not one of mount, download"):
        DataPathComputeBinding(mode="upload")
    with pytest.raises(TypeError, match="datastore must be a Datastore"):
        DataPath(datastore="blobs")
    assert data_path_param().value_type is DataPath


def test_a_binding_tuple_or_the_parameter_alone_is_an_input(src):
    param = data_path_param()
    step = PythonScriptStep(
        "train.py",
        arguments=["--data", (param, DataPathComputeBinding(mode="download"))],
        inputs=[(param, DataPathComputeBinding(mode="download"))],
        source_directory=src,
    )
    assert step.inputs == [DataPathInput(param, "download")]
    assert step.parameters() == [param]
    alone = PythonScriptStep(
        "train.py", name="alone", arguments=[param], inputs=[param], source_directory=src
    )
    assert alone.inputs == [DataPathInput(param, "mount")]


def test_a_data_path_argument_must_be_an_input(src):
    param = data_path_param()
    message = "DataPath PipelineParameter 'input_data' appears in arguments list but is not in the input"
    with pytest.raises(ValueError, match=message):
        PythonScriptStep(
            "train.py", arguments=["--data", (param, DataPathComputeBinding())], source_directory=src
        )
    with pytest.raises(ValueError, match=message):
        PythonScriptStep("train.py", arguments=["--data", param], source_directory=src)


def test_a_plain_parameter_is_not_an_input(src):
    with pytest.raises(
        TypeError, match=r"is not a DataReference or PipelineData \(nor a DataPath PipelineParameter\)"
    ):
        PythonScriptStep("train.py", inputs=[PipelineParameter("n", 1)], source_directory=src)


def test_two_data_path_defaults_for_one_name_are_refused(src):
    first = PythonScriptStep("train.py", name="a", inputs=[data_path_param("x")], source_directory=src)
    second = PythonScriptStep("train.py", name="b", inputs=[data_path_param("y")], source_directory=src)
    problems = Pipeline([first, second]).validate()
    assert any("PipelineParameter 'input_data' has two defaults" in p for p in problems), problems
    same = PythonScriptStep("train.py", name="c", inputs=[data_path_param("x")], source_directory=src)
    assert Pipeline([first, same]).validate() == []


def test_graph_and_dag_shape(src):
    param = data_path_param()
    binding = (param, DataPathComputeBinding(mode="download"))
    step = PythonScriptStep("train.py", arguments=["--data", binding], inputs=[binding], source_directory=src)
    dag = Pipeline([step]).to_dag("data_path_shape")
    task = dag.task_dict["train_py"]
    assert task.inputs == [{"name": "input_data", "mode": "download", "data_path_parameter": "input_data"}]
    assert task.arguments == [{"value": "--data"}, {"input": "input_data"}]
    param_of_dag = dag.params.get_param("input_data")
    assert param_of_dag.value == {"datastore": "blobs", "path_on_datastore": "raw/2026-11"}
    assert param_of_dag.schema["type"] == "object"
    assert "DataPath" in param_of_dag.description
    default_store = Pipeline(
        [PythonScriptStep("train.py", inputs=[data_path_param("p", None)], source_directory=src)]
    ).to_dag("data_path_default_store")
    assert default_store.params["input_data"] == {"datastore": None, "path_on_datastore": "p"}


# Run time, without Airflow


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"datastore": "s", "path_on_datastore": "a/b.csv"}, ("s", "a/b.csv")),
        ({"datastore": None, "path_on_datastore": "a"}, (None, "a")),
        ({"DataStoreName": "s", "RelativePath": "c.csv"}, ("s", "c.csv")),
    ],
)
def test_locate_input_takes_the_runs_value(tmp_path, value, expected):
    data = AttemptData("train", tmp_path, logging.getLogger("test"))
    spec = {"name": "input_data", "mode": "mount", "data_path_parameter": "input_data"}
    location = data.locate_input(spec, lambda task: None, {"input_data": value})
    assert (location.name, location.mode, location.datastore, location.path) == (
        "input_data",
        "mount",
        *expected,
    )


@pytest.mark.parametrize(
    "value", [None, "s/a.csv", {"datastore": "s"}, {"DataStoreName": 3, "RelativePath": "a"}, {"x": 1}]
)
def test_a_malformed_value_names_step_and_parameter(tmp_path, value):
    data = AttemptData("train", tmp_path, logging.getLogger("test"))
    spec = {"name": "input_data", "mode": "mount", "data_path_parameter": "input_data"}
    with pytest.raises(StepDataError, match="step 'train': DataPath parameter 'input_data' must be"):
        data.locate_input(spec, lambda task: None, {"input_data": value})


# Real runs

SCRIPT = """
    import os, sys
    source, target = sys.argv[2], sys.argv[4]
    text = open(source).read()
    with open(os.environ["MLPIPE_TEST_MARKERS"], "a") as log:
        log.write(text + "\\n")
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "seen.txt"), "w") as out:
        out.write(text)
"""

DAG_CODE = """
    from airflow_provider_mlpipe import (
        DataPath, DataPathComputeBinding, Datastore, Pipeline, PipelineData, PipelineParameter,
        PythonScriptStep,
    )
    data_path = DataPath(datastore=Datastore("dp_store"), path_on_datastore="raw/a.csv")
    param = PipelineParameter(name="input_data", default_value=data_path)
    binding = (param, DataPathComputeBinding(mode="mount"))
    seen = PipelineData("seen")
    step = PythonScriptStep(
        "train.py", name="train", arguments=["--data", binding, "--out", seen], inputs=[binding],
        outputs=[seen], source_directory="data_path_run_src",
    )
    dag = Pipeline([step], default_datastore=Datastore("dp_store")).to_dag("data_path_run")
"""


@pytest.mark.integration
def test_runs_read_the_bound_data_and_reuse_follows_it(tmp_path, monkeypatch):
    markers = tmp_path / "markers.log"
    monkeypatch.setenv("MLPIPE_TEST_MARKERS", str(markers))
    for conn_id in ("dp_store", "other_store"):
        root = tmp_path / conn_id
        connection = {"conn_type": "mlpipe_local", "extra": {"root": str(root)}}
        for name, value in airflow_conn_env(conn_id, connection).items():
            monkeypatch.setenv(name, value)
    (tmp_path / "dp_store" / "raw").mkdir(parents=True)
    (tmp_path / "dp_store" / "raw" / "a.csv").write_text("default data")
    (tmp_path / "other_store").mkdir()
    (tmp_path / "other_store" / "b.csv").write_text("other data")
    dag_file = write_project("data_path_run", DAG_CODE, {"train.py": SCRIPT})

    def run(conf=None):
        before = markers.read_text().splitlines() if markers.exists() else []
        dag_run = run_dag(dag_file, "data_path_run", conf=conf)
        assert task_states(dag_run) == {"train": "success"}
        after = markers.read_text().splitlines() if markers.exists() else []
        decision = xcom_value(dag_run, "train", key="mlpipe_reuse")["decision"]
        return after[len(before) :], decision

    assert run() == (["default data"], "miss")
    other = {"datastore": "other_store", "path_on_datastore": "b.csv"}
    assert run({"input_data": other}) == (["other data"], "miss"), "another binding is not reused"
    v1_style = {"DataStoreName": "other_store", "RelativePath": "b.csv"}
    assert run({"input_data": v1_style}) == ([], "hit"), "the same binding is reused"
    assert run() == ([], "hit")
    (tmp_path / "other_store" / "c.csv").write_text("third data")
    assert run({"input_data": {"DataStoreName": "other_store", "RelativePath": "c.csv"}}) == (
        ["third data"],
        "miss",
    )

    bad = run_dag(dag_file, "data_path_run", conf={"input_data": {"path": "b.csv"}})
    assert str(bad.state) == "failed"


def test_pipeline_data_takes_v1s_data_type_and_refuses_a_training_output():
    from airflow_provider_mlpipe import PipelineData

    data = PipelineData("model", None, None, "mount", None, None, "AnyFile", True)
    assert (data.data_type, data.is_directory) == ("AnyFile", True), "v1's positional order"
    with pytest.raises(
        ValueError, match="PipelineData 'm': training_output .* write the file from a step's script"
    ):
        PipelineData("m", training_output=object())
    with pytest.raises(TypeError, match="data_type must be a string"):
        PipelineData("m", data_type=3)
