"""v1's published-pipeline REST contract, against a real `airflow api-server` + scheduler."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

PIPELINE = "mlpipe_rest_published"

DAG_FILE = f"""
from airflow_provider_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep

out = PipelineData("out")
step = PythonScriptStep(
    "echo.py", name="echo", arguments=["--arg", PipelineParameter("pipeline_arg", 10), "--label",
    PipelineParameter("label", "none"), "--out", out], outputs=[out], source_directory="{PIPELINE}_src",
)
dag = Pipeline([step]).publish("{PIPELINE}", description="REST test pipeline", version="1.0")
"""

ECHO = """
import json, os, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
os.makedirs(args["--out"], exist_ok=True)
json.dump(args, open(os.path.join(args["--out"], "args.json"), "w"))
"""


@pytest.fixture(scope="module")
def published(airflow_deployment):
    airflow_deployment.write_dag(PIPELINE, textwrap.dedent(DAG_FILE), {"echo.py": textwrap.dedent(ECHO)})
    airflow_deployment.wait_for_dag(PIPELINE, timeout=120)
    return airflow_deployment


def submit(client: httpx.Client, body: dict, name: str = PIPELINE) -> httpx.Response:
    return client.post(f"/mlpipe/pipelines/{name}/submit", json=body)


def test_submit_with_parameters_runs_with_those_values(published):
    admin = published.client("admin", "admin")
    answer = submit(
        admin,
        {
            "ExperimentName": "rest_exp",
            "ParameterAssignments": {"pipeline_arg": 20, "label": "hi"},
            "Tags": {"k": "v"},
        },
    )
    assert answer.status_code == 200, answer.text
    run_id = answer.json()["Id"]
    final = published.wait_for_run(PIPELINE, run_id, timeout=180)
    assert final["state"] == "success", final
    run = admin.get(f"/mlpipe/runs/{run_id}").json()
    assert (
        run["Status"] == "Finished"
        and run["ExperimentName"] == "rest_exp"
        and run["PipelineVersion"] == "1.0"
    )
    assert run["ParameterAssignments"] == {"pipeline_arg": 20, "label": "hi"}
    [step] = run["Steps"]
    assert step["Name"] == "echo" and step["Status"] == "Finished" and step["Reused"] is False
    record = step["Outputs"]["out"]
    args = json.loads(Path(record["uri"].removeprefix("file://"), "args.json").read_text())
    assert (args["--arg"], args["--label"]) == ("20", "hi")
    listed = admin.get("/mlpipe/runs", params={"experiment_name": "rest_exp"}).json()["Runs"]
    assert [r["Id"] for r in listed] == [run_id]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"ExperimentName": "e", "ParameterAssignments": {"nope": 1}}, 400, "no parameter 'nope'"),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"pipeline_arg": "x"}},
            400,
            "'pipeline_arg' must be of type integer",
        ),
        ({"ExperimentName": "e", "ParameterAssignments": {"label": "a\nb"}}, 400, "multi-line"),
    ],
)
def test_bad_requests_name_the_parameter(published, body, status, words):
    answer = submit(published.client("admin", "admin"), body)
    assert answer.status_code == status and words in answer.json()["detail"]


def test_unknown_pipeline_is_404_and_auth_is_airflows(published):
    admin = published.client("admin", "admin")
    assert submit(admin, {"ExperimentName": "e"}, name="no_such_pipeline").status_code == 404
    anonymous = httpx.Client(base_url=published.url)
    assert submit(anonymous, {"ExperimentName": "e"}).status_code == 401
    assert anonymous.get("/mlpipe/pipelines").status_code == 401
    viewer = published.client("viewer", "viewer")
    assert submit(viewer, {"ExperimentName": "e"}).status_code == 403
    assert viewer.post(f"/mlpipe/pipelines/{PIPELINE}/disable").status_code == 403
    assert PIPELINE in [p["Name"] for p in viewer.get("/mlpipe/pipelines").json()["Pipelines"]]


def test_disable_and_enable(published):
    admin = published.client("admin", "admin")
    assert admin.post(f"/mlpipe/pipelines/{PIPELINE}/disable").json()["Status"] == "Disabled"
    try:
        assert submit(admin, {"ExperimentName": "e"}).status_code == 409
        [entry] = [p for p in admin.get("/mlpipe/pipelines").json()["Pipelines"] if p["Name"] == PIPELINE]
        assert entry["Status"] == "Disabled" and entry["Version"] == "1.0"
        active = admin.get("/mlpipe/pipelines", params={"active_only": True}).json()["Pipelines"]
        assert PIPELINE not in [p["Name"] for p in active]
    finally:
        assert admin.post(f"/mlpipe/pipelines/{PIPELINE}/enable").json()["Status"] == "Active"
    assert entry["Endpoint"].endswith(f"/mlpipe/pipelines/{PIPELINE}/submit")
