"""The v1 authoring API: names, defaults and the errors v1 raises when objects are made."""

from __future__ import annotations

import warnings

import pytest

import airflow_provider_mlpipe as mlpipe
from airflow_provider_mlpipe import (
    DataReference,
    Datastore,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
)


def test_package_root_exports_the_v1_names():
    for name in (
        "Datastore",
        "DataReference",
        "PipelineData",
        "PipelineParameter",
        "PythonScriptStep",
        "Pipeline",
    ):
        assert getattr(mlpipe, name).__name__ == name
    with pytest.raises(AttributeError):
        mlpipe.NoSuchThing  # noqa: B018


def test_datastore_is_only_a_name_and_accepts_the_v1_workspace_argument():
    assert Datastore("blobs").name == "blobs"
    assert Datastore(object(), "workspaceblobstore").name == "workspaceblobstore"
    assert Datastore.default().is_default and Datastore.default() == Datastore.default()
    with pytest.raises(ValueError, match="not a valid Airflow connection id"):
        Datastore("has space")


def test_data_reference_defaults_and_modes():
    ref = DataReference(Datastore("store"), "test_data", "20newsgroups/20news.pkl")
    assert (ref.name, ref.mode, ref.path_on_datastore) == ("test_data", "mount", "20newsgroups/20news.pkl")
    assert ref.as_download().mode == "download"
    assert Datastore("store").path("a/b").path_on_datastore == "a/b"
    assert DataReference(Datastore("store"), "x", "p", mode="upload").mode == "upload", "v1's output binding"
    with pytest.raises(ValueError, match="mode 'write'"):
        DataReference(Datastore("store"), "x", "p", mode="write")


def test_pipeline_data_defaults():
    data = PipelineData("output_data1")
    assert (data.output_name, data.output_mode, data.datastore, data.is_directory) == (
        "output_data1",
        "mount",
        None,
        None,
    )
    assert PipelineData("a", output_name="b").output_name == "b"
    assert data.as_download().mode == "download"


@pytest.mark.parametrize(
    "make",
    [
        lambda: PipelineData("bad-name"),
        lambda: PipelineData("ok", output_name="bad name"),
        lambda: DataReference(Datastore("s"), "bad.name", "p"),
        lambda: PipelineParameter("bad name", 1),
    ],
)
def test_names_with_non_word_characters_are_refused(make):
    with pytest.raises(ValueError, match="only letters, digits and '_'"):
        make()


@pytest.mark.parametrize("default", [10, "text", True, 0.5])
def test_parameter_types(default):
    assert PipelineParameter("p", default).value_type is type(default)


@pytest.mark.parametrize("default", [None, [1], {"a": 1}, b"x"])
def test_parameter_default_of_a_wrong_type_names_the_parameter(default):
    with pytest.raises(TypeError, match="PipelineParameter 'p': default_value"):
        PipelineParameter("p", default)


def test_multiline_parameter_default_is_refused():
    with pytest.raises(ValueError, match="multi-line"):
        PipelineParameter("p", "a\nb")


def test_python_script_step_v1_defaults():
    step = PythonScriptStep("train.py")
    assert step.name == "train.py"
    assert step.allow_reuse is True and step.compute_target is None and step.params == {}


def test_data_in_arguments_but_not_in_inputs_or_outputs_is_the_v1_error():
    data = PipelineData("model")
    with pytest.raises(
        ValueError, match="step 'train': PipelineData 'model' appears in arguments list but is not"
    ):
        PythonScriptStep("train.py", name="train", arguments=["--out", data])


def test_hash_paths_warns_that_it_is_deprecated():
    with pytest.warns(DeprecationWarning, match="hash_paths is deprecated"):
        PythonScriptStep("train.py", hash_paths=["x.ipynb"])


def test_compute_target_becomes_a_name():
    class Target:
        name = "gpu"

    assert PythonScriptStep("a.py", compute_target=Target()).compute_target == "gpu"
    assert PythonScriptStep("a.py", compute_target="cpu").compute_target == "cpu"
    with pytest.raises(TypeError, match="compute_target"):
        PythonScriptStep("a.py", compute_target=42)


def test_run_after_takes_a_step():
    step = PythonScriptStep("a.py")
    with pytest.raises(TypeError, match="run_after"):
        step.run_after("b.py")


def test_nested_step_lists_and_pulled_in_producers(tmp_path):
    (tmp_path / "a.py").write_text("")
    data = PipelineData("d")
    PythonScriptStep("a.py", name="producer", outputs=[data], source_directory=tmp_path)  # not listed
    consumer = PythonScriptStep("a.py", name="consumer", inputs=[data], source_directory=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline = Pipeline(steps=[[consumer]])
    assert pipeline.validate() == []
    assert [node.name for node in pipeline.graph().nodes] == ["producer", "consumer"]
