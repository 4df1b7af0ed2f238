"""v1's run objects on a real local run (`Experiment(name).submit(pipeline)`): steps found by the
name as written, their ids, outputs, logs, metrics, tags, images and files, and the pipeline run's
children, tags, metrics and `publish_pipeline`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from airflow_provider_mlpipe import (
    Experiment,
    Pipeline,
    PipelineData,
    PipelineRun,
    PortDataReference,
    PublishedPipeline,
    PythonScriptStep,
    StepRun,
)
from airflow_provider_mlpipe.runs import StepRunOutput

pytestmark = pytest.mark.integration

#: The smallest PNG: one transparent pixel.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)

TRAIN = """
import os, sys
from airflow_provider_mlpipe import Run

out = sys.argv[sys.argv.index("--out") + 1]
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "model.txt"), "w").write("weights")
open(os.path.join(out, "notes.txt"), "w").write("notes")
run = Run.get_context()
print(f"step run id {run.id}; parent {run.parent.id}")
run.log("loss", 0.25, step=2)
run.log("loss", 0.5, step=1)
run.log_table("per_class", {"label": ["a", "b"], "recall": [1.0, 0.5]})
run.log_image("pixel", path="pixel.png", description="one pixel")
run.tag("kind", "forest")
run.tag("candidate")
run.upload_file("outputs/summary.txt", "pixel.png")
run.parent.log("pipeline_score", 0.75)
run.parent.tag("best_step", "train.py")
print("train done")
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[PipelineRun, Path]:
    """One local run of a pipeline whose step is named only by its script ("train.py")."""
    tmp_path = tmp_path_factory.mktemp("step_runs")
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(textwrap.dedent(TRAIN))
    (source / "pixel.png").write_bytes(PIXEL_PNG)
    model = PipelineData("model")
    step = PythonScriptStep(
        "train.py", arguments=["--out", model], outputs=[model], source_directory=str(source)
    )
    assert step.name == "train.py"
    pipeline = Pipeline([step])
    run = Experiment("step_runs").submit(pipeline, tags={"team": "vision"})
    assert run.wait_for_completion(show_output=False) == "Finished", run.get_details()
    return run, tmp_path


def test_find_step_run_finds_the_step_by_the_name_as_written(finished):
    run, _ = finished
    [train] = run.find_step_run("train.py")
    assert isinstance(train, StepRun)
    assert (train.name, train.task_id) == ("train.py", "train_py")
    assert run.find_step_run("train_py") == []
    # Its id is what Run.get_context().id said in the script; the parent is the pipeline run.
    assert train.id == f"{run.pipeline_id}/{run.id}/train_py"
    assert f"step run id {train.id}; parent {run.id}" in train.get_job_log()
    assert train.pipeline_run_id == run.id and train.parent is run
    assert train.get_status() == "Finished"
    assert [step.name for step in run.get_steps()] == ["train.py"]


def test_children_are_the_step_runs_filtered_as_in_v1(finished):
    run, _ = finished
    assert [c.id for c in run.get_children()] == [s.id for s in run.get_steps()]
    assert [c.name for c in run.get_children(status="Finished", type="azureml.StepRun")] == ["train.py"]
    assert run.get_children(status="Failed") == []
    assert run.get_children(type="azureml.PipelineRun") == []
    assert [c.name for c in run.get_children(tags="candidate")] == ["train.py"]
    assert [c.name for c in run.get_children(tags={"kind": "forest"})] == ["train.py"]
    assert run.get_children(tags={"kind": "tree"}) == []
    with pytest.raises(ValueError, match="no properties here"):
        run.get_children(properties={"a": "b"})


def test_outputs_are_step_run_outputs_and_download_counts_files(finished, tmp_path):
    run, _ = finished
    [train] = run.find_step_run("train.py")
    outputs = train.get_outputs()
    assert list(outputs) == ["model"] and isinstance(outputs["model"], StepRunOutput)
    reference = outputs["model"].get_port_data_reference()
    assert isinstance(reference, PortDataReference)
    assert reference.name == "model" and reference.pipeline_run_id == run.id
    assert reference.datastore_name == "mlpipe_default"
    assert reference.datastore.name == "mlpipe_default"
    assert reference.path_on_datastore.endswith("/train_py/model")
    assert train.get_output_data("model").path_on_datastore == reference.path_on_datastore

    # v1: the number of files written; files already there are kept unless overwrite.
    assert reference.download(tmp_path, show_progress=False) == 2
    local = tmp_path / reference.path_on_datastore
    assert (local / "model.txt").read_text() == "weights"
    (local / "model.txt").write_text("changed here")
    assert reference.download(tmp_path, show_progress=False) == 0
    assert (local / "model.txt").read_text() == "changed here"
    assert reference.download(tmp_path, overwrite=True, show_progress=False) == 2
    assert (local / "model.txt").read_text() == "weights"
    with pytest.raises(KeyError, match="no output 'nope'"):
        train.get_output("nope")


def test_metrics_tags_images_and_files_of_the_step(finished, tmp_path):
    run, _ = finished
    [train] = run.find_step_run("train.py")
    metrics = {
        "loss": [0.5, 0.25],  # in step order
        "per_class": {"label": ["a", "b"], "recall": [1.0, 0.5]},
        "pixel": "images/pixel.png",
    }
    assert train.get_metrics() == metrics
    assert train.get_metrics("loss") == {"loss": [0.5, 0.25]} and train.get_metrics("nope") == {}
    assert train.get_metrics(recursive=True) == {train.id: metrics}
    assert train.get_tags() == {"kind": "forest", "candidate": None}
    assert train.get_file_names() == ["images/pixel.png", "files/outputs/summary.txt"]
    image = Path(train.download_file("images/pixel.png", tmp_path / "pixel.png"))
    assert image.read_bytes() == PIXEL_PNG
    uploaded = Path(train.download_file("files/outputs/summary.txt", tmp_path))
    assert uploaded == tmp_path / "summary.txt" and uploaded.read_bytes() == PIXEL_PNG


def test_the_pipeline_runs_tags_and_metrics_come_from_submit_and_its_steps(finished):
    run, _ = finished
    assert run.get_tags() == {"team": "vision", "best_step": "train.py"}
    assert run.get_metrics() == {"pipeline_score": 0.75}
    [train] = run.find_step_run("train.py")
    assert run.get_metrics(recursive=True) == {
        run.id: {"pipeline_score": 0.75},
        train.id: train.get_metrics(),
    }
    assert run.get_metrics(recursive=True, run_type="azureml.PipelineRun") == {
        run.id: {"pipeline_score": 0.75}
    }


def test_the_experiment_lists_its_local_runs(finished):
    run, _ = finished
    assert run.id in [r.id for r in Experiment("step_runs").get_runs()]
    assert Experiment("no_such_experiment").get_runs() == []


def test_publish_pipeline_publishes_a_pipeline_submitted_here(finished):
    run, _ = finished
    published = run.publish_pipeline("step_runs_published", "from a run", "1.0")
    assert isinstance(published, PublishedPipeline)
    assert published.dag.dag_id == "step_runs_published"
    with pytest.raises(ValueError, match="enable_email_notification is not supported"):
        run.publish_pipeline("x", "d", "1", enable_email_notification=True)
    with pytest.raises(ValueError, match="unexpected arguments"):
        run.publish_pipeline("x", "d", "1", nope=1)
    attached = PipelineRun(run.experiment, run.id)
    with pytest.raises(ValueError, match=r"pipeline\.publish\('x', \.\.\.\) in a DAG file"):
        attached.publish_pipeline("x", "d", "1")
    # A re-attached run reads the same steps.
    assert [s.id for s in attached.find_step_run("train.py")] == [s.id for s in run.find_step_run("train.py")]
