"""v1's data objects (issue 13 point 3): DataReference and PipelineData bindings, DataPath's
DataReferences, StepSequence; and bindings standing in a step's arguments for its inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_mlpipe import (
    DataPath,
    DataPathComputeBinding,
    DataReference,
    Datastore,
    DataTransferStep,
    Pipeline,
    PipelineData,
    PythonScriptStep,
    StepSequence,
)
from airflow_provider_mlpipe.authoring.data import PipelineDataInput
from airflow_provider_mlpipe.graph import flatten_steps


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "a.py").write_text("")
    return tmp_path


def step(src: Path, name: str, **kwargs) -> PythonScriptStep:
    return PythonScriptStep("a.py", name=name, source_directory=src, **kwargs)


def node(pipeline: Pipeline, name: str):
    return pipeline.graph().node(name)


# DataReference


def test_data_reference_bindings_keep_the_data_and_change_the_mode():
    ref = DataReference(Datastore("store"), "raw", "raw/data", "mount", "keep/here", True)
    down = ref.as_download("on/compute", True)
    assert (down.mode, down.path_on_compute, down.overwrite) == ("download", "on/compute", True)
    assert (down.datastore, down.name, down.path_on_datastore) == (ref.datastore, "raw", "raw/data")
    assert ref.as_download().path_on_compute is None, "v1: as_download sets path_on_compute"
    mount = down.as_mount()
    assert (mount.mode, mount.path_on_compute) == ("mount", "on/compute")
    up = ref.as_upload(path_on_compute="out", overwrite=True)
    assert (up.mode, up.path_on_compute, up.overwrite) == ("upload", "out", True)
    assert ref.mode == "mount", "bindings are new objects"


def test_data_reference_path_is_a_sub_path_in_mount_mode():
    store = Datastore("store")
    root = DataReference(store, "root")
    assert root.path() is root and root.path("/") is root and root.path("./") is root
    assert root.path("a/b").path_on_datastore == "a/b"
    sub = DataReference(store, "sub", "base/", mode="download").path("x.csv", "x")
    assert (sub.path_on_datastore, sub.name, sub.mode) == ("base/x.csv", "x", "mount")
    renamed = DataReference(store, "sub", "base").path(None, "other")
    assert (renamed.name, renamed.path_on_datastore) == ("other", "base")
    assert DataReference(store, "r", ".").path("c").path_on_datastore == "c"
    with pytest.raises(TypeError, match="path must be a string"):
        root.path(3)


def test_data_path_makes_data_references():
    path = DataPath(Datastore("store"), "raw/2026")
    binding = DataPathComputeBinding(mode="download", path_on_compute="data", overwrite=True)
    ref = path.create_data_reference("raw", binding)
    assert (ref.datastore, ref.name, ref.path_on_datastore) == (Datastore("store"), "raw", "raw/2026")
    assert (ref.mode, ref.path_on_compute, ref.overwrite) == ("download", "data", True)
    assert binding.create_data_reference("raw", path).path_on_datastore == "raw/2026"
    made = DataReference.create(data_reference_name="raw", datapath=path, datapath_compute_binding=binding)
    assert made.mode == "download"
    assert DataPath(None, "x").create_data_reference("x", DataPathComputeBinding()).datastore.is_default
    assert DataPath.create_from_data_reference(ref) == path
    assert DataPathComputeBinding.create_from_data_reference(ref).mode == "download"
    with pytest.raises(ValueError, match="datapath_compute_binding is required"):
        path.create_data_reference("raw")
    with pytest.raises(TypeError, match="must be a DataPathComputeBinding"):
        path.create_data_reference("raw", "mount")
    with pytest.raises(ValueError, match="datapath is required"):
        binding.create_data_reference("raw")
    with pytest.raises(ValueError, match="are required"):
        DataReference.create("raw", path)


# PipelineData


def test_pipeline_data_takes_all_of_v1s_constructor_parameters_in_order():
    data = PipelineData(
        "d", Datastore("s"), "out", "upload", "outputs/d", True, "AnyDirectory", True, "final"
    )
    assert (data.datastore, data.output_name, data.output_mode) == (Datastore("s"), "out", "upload")
    assert (data.output_path_on_compute, data.output_overwrite) == ("outputs/d", True)
    assert (data.data_type, data.is_directory, data.pipeline_output_name) == ("AnyDirectory", True, "final")


def test_pipeline_data_bindings():
    data = PipelineData("d")
    assert data.as_mount() == PipelineDataInput(data, "mount")
    mount = data.as_mount("named")
    assert (mount.name, mount.mode) == ("named", "mount")
    down = data.as_download("dl", "on/compute", True)
    assert (down.name, down.mode, down.path_on_compute, down.overwrite) == (
        "dl",
        "download",
        "on/compute",
        True,
    )
    assert data.as_download().name == "d"
    assert (data.as_input("x").name, data.as_input("x").mode) == ("x", "mount")
    binding = data.create_input_binding("b", "download", "p", False)
    assert (binding.name, binding.mode, binding.path_on_compute) == ("b", "download", "p")
    assert data.create_input_binding().mode == "mount"
    with pytest.raises(ValueError, match="mode 'upload'"):
        data.create_input_binding(mode="upload")
    with pytest.raises(ValueError, match="only letters, digits and '_'"):
        data.as_mount("bad name")


# A binding in arguments stands for the step's input of the same data


@pytest.mark.parametrize(
    ("in_inputs", "in_arguments"),
    [
        (lambda ref: ref, lambda ref: ref.as_mount()),
        (lambda ref: ref, lambda ref: ref.as_download()),
        (lambda ref: ref.as_download(), lambda ref: ref),
        (lambda ref: ref.as_download(), lambda ref: ref.as_download()),
        (lambda ref: ref.as_download(), lambda ref: DataReference(Datastore("store"), "raw", "raw/data/")),
    ],
)
def test_a_data_reference_binding_in_arguments_is_the_input_of_the_same_data(src, in_inputs, in_arguments):
    ref = DataReference(Datastore("store"), "raw", "raw/data")
    given = in_inputs(ref)
    reader = step(src, "reader", inputs=[given], arguments=["--input", in_arguments(ref)])
    graph_node = node(Pipeline([reader]), "reader")
    assert graph_node.arguments == [{"value": "--input"}, {"input": "raw"}]
    assert [spec["mode"] for spec in graph_node.inputs] == [given.mode], "the inputs list decides the mode"


def test_another_data_reference_in_arguments_is_still_refused(src):
    ref = DataReference(Datastore("store"), "raw", "raw/data")
    for other in (
        DataReference(Datastore("store"), "raw", "raw/other"),
        DataReference(Datastore("other"), "raw", "raw/data"),
        ref.path(None, "renamed"),
    ):
        with pytest.raises(
            ValueError, match="appears in arguments list but is not in the input/output lists"
        ):
            step(src, "reader", inputs=[ref], arguments=[other])


@pytest.mark.parametrize(
    ("in_inputs", "in_arguments"),
    [
        (lambda d: d, lambda d: d.as_mount()),
        (lambda d: d, lambda d: d.as_download()),
        (lambda d: d, lambda d: d.as_input("other_name")),
        (lambda d: d.as_download(), lambda d: d),
        (lambda d: d.as_input("model"), lambda d: d.as_mount()),
    ],
)
def test_a_pipeline_data_binding_in_arguments_is_the_input_of_the_same_data(src, in_inputs, in_arguments):
    data = PipelineData("d")
    given = in_inputs(data)
    writer = step(src, "writer", outputs=[data], arguments=[data])
    reader = step(src, "reader", inputs=[given], arguments=[in_arguments(data)])
    assert node(Pipeline([writer, reader]), "reader").arguments == [{"input": given.name}]


def test_with_the_same_data_twice_a_named_binding_picks_its_input(src):
    data = PipelineData("d")
    writer = step(src, "writer", outputs=[data])
    reader = step(
        src,
        "reader",
        inputs=[data.as_input("first"), data.as_download("second")],
        arguments=[data.as_input("second"), data.as_input("first"), data],
    )
    arguments = node(Pipeline([writer, reader]), "reader").arguments
    assert arguments == [{"input": "second"}, {"input": "first"}, {"input": "first"}]


def test_a_pipeline_data_binding_of_data_not_in_inputs_is_refused(src):
    with pytest.raises(
        ValueError, match="PipelineData 'd' appears in arguments list but is not in the input"
    ):
        step(src, "reader", inputs=[PipelineData("d")], arguments=[PipelineData("d").as_mount()])


# as_upload: refused by steps, naming the alternative; a DataTransferStep destination


def test_an_upload_binding_is_refused_with_the_alternative(src):
    ref = DataReference(Datastore("store"), "exported", "exports/model")
    up = ref.as_upload()
    alternative = r"DataTransferStep\(name, source_data_reference=<that PipelineData>"
    for kwargs in (
        {"outputs": [up]},
        {"outputs": [ref]},
        {"inputs": [up]},
        {"inputs": [ref], "arguments": [up]},
    ):
        with pytest.raises(ValueError, match=alternative) as raised:
            step(src, "writer", **kwargs)
        assert "step 'writer': DataReference 'exported' as a step output" in str(raised.value)
        assert "'exports/model' on datastore 'store'" in str(raised.value)


def test_an_upload_binding_is_a_data_transfer_destination(src):
    model = PipelineData("model")
    writer = step(src, "writer", outputs=[model])
    destination = DataReference(Datastore("store"), "exported", "exports/model").as_upload()
    copy = DataTransferStep("export", source_data_reference=model, destination_data_reference=destination)
    assert copy.transfer_spec()["destination"]["path_on_datastore"] == "exports/model"
    assert Pipeline([writer, copy]).validate() == []


# StepSequence


def test_step_sequence_runs_each_item_after_the_one_before(src):
    a, b, c, d = (step(src, name) for name in "abcd")
    pipeline = Pipeline(None, steps=StepSequence(steps=[a, [b, c], d]))
    assert [s.name for s in pipeline.steps] == ["a", "b", "c", "d"]
    upstream = {n.name: sorted(n.upstream) for n in pipeline.graph().nodes}
    assert upstream == {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    dag = pipeline.to_dag("sequence")
    assert dag.task_dict["d"].upstream_task_ids == {"b", "c"}
    assert a.run_after_steps == [] and d.run_after_steps == [], "the steps themselves are not changed"


def test_step_sequences_nest_in_lists_and_in_each_other(src):
    a, b, c, d, e = (step(src, name) for name in "abcde")
    steps = [StepSequence([a, StepSequence([b, c])]), StepSequence([d, e]), a]
    upstream = {n.name: sorted(n.upstream) for n in Pipeline(steps).graph().nodes}
    assert upstream == {"a": [], "b": ["a"], "c": ["a", "b"], "d": [], "e": ["d"]}


def test_steps_shared_by_two_pipelines_keep_each_pipelines_order(src):
    a, b = step(src, "a"), step(src, "b")
    assert node(Pipeline(StepSequence([a, b])), "b").upstream == ["a"]
    assert node(Pipeline([a, b]), "b").upstream == []


def test_a_pipelines_steps_keep_their_order_in_another_pipeline(src):
    a, b = step(src, "a"), step(src, "b")
    first = Pipeline(StepSequence([a, b]))
    assert node(Pipeline([first.steps]), "b").upstream == ["a"]


def test_a_step_listed_twice_in_a_sequence_is_a_problem(src):
    a, b = step(src, "a"), step(src, "b")
    problems = Pipeline(StepSequence([a, b, a])).validate()
    assert any("form a cycle" in p for p in problems), problems
    assert Pipeline(StepSequence([a, a])).validate() == [
        "step 'a': a StepSequence lists it twice, so runs it after itself"
    ]


def test_pipeline_steps_accept_a_pipeline_data_for_its_producer(src):
    data = PipelineData("d")
    writer = step(src, "writer", outputs=[data])
    assert flatten_steps([data]) == [writer]
    with pytest.raises(ValueError, match="PipelineData 'orphan' has no producer"):
        flatten_steps([PipelineData("orphan")])
    with pytest.raises(TypeError, match="steps, lists of steps or StepSequences"):
        flatten_steps(["a.py"])
    with pytest.raises(TypeError, match="StepSequence: steps must be a list"):
        StepSequence("ab")
    assert list(StepSequence()) == [] and len(StepSequence([writer])) == 1


# path_on_compute: where a PythonScriptStep's script finds and writes the data


def test_paths_on_compute_go_to_the_operator_and_the_reuse_key(src):
    ref = DataReference(Datastore("store"), "raw", "raw")
    model = PipelineData("model", output_mode="upload", output_path_on_compute="outputs/model")
    train = step(src, "train", inputs=[ref.as_download("data/raw", True)], outputs=[model])
    score = step(src, "score", inputs=[model.as_download(path_on_compute="m"), ref])
    pipeline = Pipeline([train, score])
    assert node(pipeline, "train").inputs[0] | {"datastore": None} == {
        "name": "raw",
        "mode": "download",
        "datastore": None,
        "path_on_datastore": "raw",
        "path_on_compute": "data/raw",
        "overwrite": True,
    }
    assert node(pipeline, "train").outputs[0]["path_on_compute"] == "outputs/model"
    assert node(pipeline, "score").inputs[0]["path_on_compute"] == "m"
    assert "path_on_compute" not in node(pipeline, "score").inputs[1], "unchanged when not given"

    dag = pipeline.to_dag("placed")
    assert {task_id: dag.task_dict[task_id].paths_on_compute() for task_id in ("train", "score")} == {
        "train": {"input raw": "data/raw", "output model": "outputs/model"},
        "score": {"input model": "m"},
    }
    plain = Pipeline([step(src, "plain", inputs=[ref])]).to_dag("plain").task_dict["plain"]
    assert plain.paths_on_compute() == {}


def test_a_data_path_binding_keeps_its_path_on_compute(src):
    from airflow_provider_mlpipe import PipelineParameter

    parameter = PipelineParameter("data", DataPath(Datastore("store"), "raw"))
    binding = DataPathComputeBinding("download", "data/raw", True)
    reader = step(src, "reader", inputs=[(parameter, binding)], arguments=[(parameter, binding)])
    spec = node(Pipeline([reader]), "reader").inputs[0]
    assert (spec["data_path_parameter"], spec["path_on_compute"], spec["overwrite"]) == (
        "data",
        "data/raw",
        True,
    )


@pytest.mark.parametrize("bad", ["/abs/path", "../up", "a/../../b", ".", "", 3])
def test_a_path_on_compute_stays_below_the_working_folder(src, bad):
    ref = DataReference(Datastore("store"), "raw", "raw")
    with pytest.raises(
        ValueError, match="step 'reader': input 'raw': path_on_compute .* relative path below"
    ):
        step(src, "reader", inputs=[ref.as_download(bad)])
    with pytest.raises(ValueError, match="step 'writer': output 'm': path_on_compute .* relative path below"):
        step(src, "writer", outputs=[PipelineData("m", output_path_on_compute=bad)])
