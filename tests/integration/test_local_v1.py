"""v1's notebook calls on the embedded local workspace: `pipeline.submit(experiment_name)`, a
pipeline published in the notebook and submitted there, and `PublishedPipeline.get/list/enable/
disable` on the local metadata DB."""

from __future__ import annotations

import textwrap

import pytest

from airflow_provider_mlpipe import (
    Experiment,
    Pipeline,
    PipelineParameter,
    PipelineRunError,
    PublishedPipeline,
    PythonScriptStep,
    Workspace,
)
from airflow_provider_mlpipe.exceptions import ApiError

pytestmark = pytest.mark.integration

ECHO = """
import sys
print("echo says", sys.argv[1])
"""


@pytest.fixture
def echo_step(tmp_path):
    (tmp_path / "echo.py").write_text(textwrap.dedent(ECHO))
    return PythonScriptStep(
        "echo.py", name="echo", arguments=[PipelineParameter("word", "hello")], source_directory=tmp_path
    )


def test_pipeline_submit_runs_in_the_local_workspace_and_records_the_experiment(echo_step):
    ws = Workspace.from_config()  # no config file here: the embedded local Airflow
    run = Pipeline(ws, [echo_step]).submit(
        "v1_local_exp", pipeline_parameters={"word": "v1"}, tags={"k": "v"}
    )
    assert run.wait_for_completion(show_output=False) == "Finished"
    [echo] = run.find_step_run("echo")
    assert "echo says v1" in echo.get_log()
    details = run.get_details()
    assert details["ExperimentName"] == "v1_local_exp" and details["Tags"] == {"k": "v"}
    assert "v1_local_exp" in ws.experiments
    assert [r.id for r in Experiment(ws, "v1_local_exp").get_runs()] == [run.id]


def test_a_notebook_published_pipeline_is_submitted_listed_disabled_and_enabled_locally(echo_step):
    ws = Workspace.local()
    published = Pipeline(ws, [echo_step]).publish("v1_local_published", version="7")
    run = published.submit(ws, "v1_local_published_exp", pipeline_parameters={"word": "published"})
    assert run.pipeline_id == "v1_local_published"
    assert run.wait_for_completion(show_output=False) == "Finished"
    assert run.get_details()["PipelineVersion"] == "7"

    found = PublishedPipeline.get(ws, "v1_local_published")
    assert (found.id, found.version, found.status) == ("v1_local_published", "7", "Active")
    assert "v1_local_published" in [p.id for p in PublishedPipeline.list(ws)]
    found.disable()
    assert found.status == "Disabled"
    assert "v1_local_published" not in [p.id for p in PublishedPipeline.list(ws)]
    assert "v1_local_published" in [p.id for p in PublishedPipeline.list(ws, active_only=False)]
    with pytest.raises(PipelineRunError, match="is disabled"):
        published.submit(ws, "v1_local_published_exp")
    found.enable()
    assert PublishedPipeline.get(ws, "v1_local_published").status == "Active"
    with pytest.raises(ApiError, match="no published pipeline 'nope'"):
        PublishedPipeline.get(ws, "nope")


def test_a_pipeline_published_in_a_notebook_is_found_by_the_local_workspace_before_any_run(echo_step):
    ws = Workspace.local()
    Pipeline(ws, [echo_step]).publish("v1_published_unrun", version="1")
    assert PublishedPipeline.get(ws, "v1_published_unrun").version == "1"
