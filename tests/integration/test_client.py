"""v1's notebook API (`Workspace`, `PublishedPipeline`, `Experiment`, `PipelineRun`) against a real Airflow deployment, and locally."""

from __future__ import annotations

import contextlib

import pytest

from airflow_provider_mlpipe import (
    Experiment,
    PipelineRun,
    PipelineRunError,
    PublishedPipeline,
    Workspace,
)
from airflow_provider_mlpipe.exceptions import ApiError
from tests.integration.live_runs import BOOKKEEPING, GATED_SCRIPT, PREPARE, GatedOutput

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

PIPELINE = "mlpipe_client_published"
FAILING = "mlpipe_client_failing"
STREAMING = "mlpipe_client_streaming"

DAG_FILE = f"""
from airflow_provider_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep

data = PipelineData("data")
prepare = PythonScriptStep(
    "prepare.py", name="prepare", arguments=["--n", PipelineParameter("n", 2), "--out", data],
    outputs=[data], source_directory="{PIPELINE}_src",
)
report = PipelineData("report")
train = PythonScriptStep(
    "train.py", name="train", arguments=["--data", data, "--out", report], inputs=[data],
    outputs=[report], source_directory="{PIPELINE}_src",
)
dag = Pipeline([train]).publish("{PIPELINE}", description="client test pipeline", version="2.0")
"""

TRAIN = """
import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--data")
parser.add_argument("--out")
args = parser.parse_args()
numbers = [int(x) for x in open(os.path.join(args.data, "numbers.txt")).read().split(",")]
os.makedirs(args.out, exist_ok=True)
json.dump({"total": sum(numbers)}, open(os.path.join(args.out, "metrics.json"), "w"))
print(f"train total is {sum(numbers)}")
"""

FAILING_DAG = f"""
from airflow_provider_mlpipe import Pipeline, PythonScriptStep

step = PythonScriptStep("boom.py", name="boom", source_directory="{FAILING}_src")
dag = Pipeline([step]).publish("{FAILING}")
"""

BOOM = """
import sys
print("about to fail")
sys.exit(3)
"""

STREAMING_DAG = f"""
from airflow_provider_mlpipe import Pipeline, PipelineParameter, PythonScriptStep

step = PythonScriptStep(
    "gated.py", name="gated", arguments=[PipelineParameter("gate", "unset")],
    source_directory="{STREAMING}_src", allow_reuse=False,
)
dag = Pipeline([step]).publish("{STREAMING}")
"""


@pytest.fixture(scope="module")
def deployment(airflow_deployment):
    airflow_deployment.write_dag(PIPELINE, DAG_FILE, {"prepare.py": PREPARE, "train.py": TRAIN})
    airflow_deployment.write_dag(FAILING, FAILING_DAG, {"boom.py": BOOM})
    airflow_deployment.write_dag(STREAMING, STREAMING_DAG, {"gated.py": GATED_SCRIPT})
    airflow_deployment.wait_for_dag(PIPELINE, timeout=120)
    airflow_deployment.wait_for_dag(FAILING, timeout=120)
    airflow_deployment.wait_for_dag(STREAMING, timeout=120)
    return airflow_deployment


@pytest.fixture
def workspace(deployment, monkeypatch):
    # The client downloads outputs of the embedded datastore from the deployment's folder.
    monkeypatch.setenv("AIRFLOW__MLPIPE__EMBEDDED_ROOT", deployment.env["AIRFLOW__MLPIPE__EMBEDDED_ROOT"])
    monkeypatch.setenv("MLPIPE_AIRFLOW_URL", deployment.url)
    monkeypatch.setenv("MLPIPE_AIRFLOW_USERNAME", "admin")
    monkeypatch.setenv("MLPIPE_AIRFLOW_PASSWORD", "admin")
    monkeypatch.delenv("MLPIPE_AIRFLOW_TOKEN", raising=False)
    ws = Workspace.from_env()
    yield ws
    ws.close()


def test_list_get_submit_wait_and_download(workspace, tmp_path, capsys):
    names = [p.name for p in PublishedPipeline.list(workspace)]
    assert PIPELINE in names and FAILING in names
    published = PublishedPipeline.get(workspace, id=PIPELINE)
    assert (published.name, published.version, published.status) == (PIPELINE, "2.0", "Active")
    assert published.description == "client test pipeline"
    assert published.endpoint.endswith(f"/mlpipe/pipelines/{PIPELINE}/submit")

    run = published.submit(workspace, experiment_name="client_exp", pipeline_parameters={"n": 5})
    assert run.wait_for_completion(show_output=True, timeout_seconds=120) == "Finished"
    printed = capsys.readouterr().out
    assert "StepRun(prepare) Status: Finished, Reuse: ran" in printed
    assert "prepare wrote 5 numbers" in printed and "train total is 10" in printed
    assert run.get_status() == "Finished"
    assert sorted(step.name for step in run.get_steps()) == ["prepare", "train"]

    [prepare] = run.find_step_run("prepare")
    assert prepare.status == "Finished" and prepare.reused is False
    output = prepare.get_output_data("data")
    assert output.datastore_name == "mlpipe_default" and output.path_on_datastore
    assert output.download(tmp_path, show_progress=False) == 1  # v1: the number of files copied
    local = tmp_path / output.path_on_datastore
    assert (local / "numbers.txt").read_text() == "0,1,2,3,4"
    [train] = run.find_step_run("train")
    assert train.get_metrics() == {"total": 10}
    assert prepare.get_metrics() == {}
    assert run.find_step_run("nope") == []
    with pytest.raises(KeyError, match="no output 'nope'"):
        prepare.get_output_data("nope")

    assert [r.id for r in Experiment(workspace, "client_exp").get_runs()] == [run.id]


def test_experiment_submit_bad_parameter_and_disable(workspace):
    published = PublishedPipeline.get(workspace, PIPELINE)
    with pytest.raises(PipelineRunError) as error:
        Experiment(workspace, "client_bad").submit(published, pipeline_parameters={"nope": 1})
    assert error.value.status_code == 400 and "no parameter 'nope'" in error.value.detail
    with pytest.raises(ApiError) as error:
        PublishedPipeline.get(workspace, "no_such_pipeline")
    assert error.value.status_code == 404

    published.disable()
    try:
        assert published.status == "Disabled"
        assert PIPELINE not in [p.name for p in PublishedPipeline.list(workspace)]
        with pytest.raises(PipelineRunError) as error:
            published.submit(workspace, "client_exp")
        assert error.value.status_code == 409 and "disabled" in error.value.detail
    finally:
        published.enable()
    assert published.status == "Active"


def test_failed_run_raises(workspace, capsys):
    run = Experiment(workspace, "client_fail").submit(PublishedPipeline.get(workspace, FAILING))
    with pytest.raises(PipelineRunError, match="failed step"):
        run.wait_for_completion(show_output=True, timeout_seconds=120)
    printed = capsys.readouterr().out
    assert "about to fail" in printed
    assert "ERROR  AirflowException: step 'boom': script boom.py exited with code 3" in printed
    assert not [line for line in BOOKKEEPING if line in printed], printed
    assert run.get_status() == "Failed"
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"


def test_wait_for_completion_prints_a_remote_steps_lines_while_it_runs(workspace, tmp_path):
    gate = tmp_path / "gate"
    published = PublishedPipeline.get(workspace, STREAMING)
    run = published.submit(workspace, "client_streaming", pipeline_parameters={"gate": str(gate)})
    output = GatedOutput(gate)
    with contextlib.redirect_stdout(output):
        status = run.wait_for_completion(show_output=True, timeout_seconds=240, poll_interval=0.5)
    printed = output.getvalue()

    assert status == "Finished", printed
    # The script could only print its second line after the client had printed its first one.
    assert "first line of the gated step" in output.printed_before_gate, printed
    assert "second line of the gated step" in printed and "the gate never opened" not in printed
    assert printed.count("first line of the gated step") == 1, printed
    assert "StepRun(gated) Status: Finished, Reuse: ran" in printed
    assert not [line for line in BOOKKEEPING if line in printed], printed
    [gated] = run.find_step_run("gated")
    assert "second line of the gated step" in gated.get_log()
    assert "Pushing xcom" in gated.get_log(full=True)


def test_a_remote_workspace_lists_and_sets_what_the_deployment_holds(workspace, deployment):
    from airflow_provider_mlpipe import ComputeTarget

    workspace.request(
        "POST",
        "/api/v2/connections",
        json={
            "connection_id": "client_folder_store",
            "conn_type": "mlpipe_local",
            "extra": '{"root": "/tmp/cfs"}',
        },
    )
    try:
        assert {"client_folder_store", "mlpipe_default"} <= set(workspace.datastores)
        assert workspace.get_default_datastore().name == "mlpipe_default"
        workspace.set_default_datastore("client_folder_store")
        assert workspace.get_default_datastore().name == "client_folder_store"
        with pytest.raises(ValueError, match="no datastore 'nope'"):
            workspace.set_default_datastore("nope")
    finally:
        with contextlib.suppress(ApiError):
            workspace.request("DELETE", "/api/v2/variables/mlpipe_default_datastore")
        workspace.request("DELETE", "/api/v2/connections/client_folder_store")
    assert workspace.get_default_datastore().name == "mlpipe_default"
    targets = workspace.compute_targets
    assert all(isinstance(t, ComputeTarget) for t in targets.values())
    assert "AirflowQueue" in {t.type for t in targets.values()}


def test_a_remote_submit_records_parent_run_and_the_experiment(workspace):
    published = PublishedPipeline.get(workspace, PIPELINE)
    run = published.submit(
        workspace,
        "client_parented",
        pipeline_parameters={"n": 1},
        parent_run_id="outer-run-1",
        continue_on_step_failure=True,
    )
    assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Finished"
    details = run.get_details()
    assert details["ParameterAssignments"]["continue_on_step_failure"] is True
    assert details["ParentRunId"] == "outer-run-1"
    assert "client_parented" in workspace.experiments
    assert PipelineRun.get(workspace, run.id).experiment.name == "client_parented"
    again = PipelineRun(workspace.experiments["client_parented"], run.id)  # by run id alone
    assert again.wait_for_completion(show_output=True, timeout_seconds=60) == "Finished"
