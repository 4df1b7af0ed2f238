"""Our provider in a real Airflow deployment: api-server, scheduler, dag-processor, triggerer, PostgreSQL.

The DAG is parsed by the dag-processor, triggered through the REST API, scheduled by the scheduler
and run by the LocalExecutor against the execution API, as in production.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["tests.services.airflow_deployment"]

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

DAG_ID = "deploy_smoke"

DAG_CODE = """
from airflow_provider_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep

n = PipelineParameter("n", 1)
out = PipelineData("out")
count = PythonScriptStep(
    "count.py", name="count", arguments=["--n", n, "--out", out], outputs=[out],
    source_directory="deploy_smoke_src",
)
dag = Pipeline([count]).to_dag("deploy_smoke")
"""

COUNT_SCRIPT = """
import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int)
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "result.json"), "w") as handle:
    json.dump({"n": args.n, "squares": [i * i for i in range(args.n)]}, handle)
"""


@pytest.fixture(scope="module")
def smoke_dag(airflow_deployment):
    airflow_deployment.write_dag(DAG_ID, DAG_CODE, {"count.py": COUNT_SCRIPT, "notes.md": "not a DAG"})
    return airflow_deployment.wait_for_dag(DAG_ID, timeout=90)


def test_triggered_through_the_api_the_step_runs_and_records_its_output(airflow_deployment, smoke_dag):
    assert smoke_dag["is_paused"] is False
    with airflow_deployment.client("admin", "admin") as admin:
        response = admin.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {"n": 3}})
        assert response.status_code == 200, response.text
        run_id = response.json()["dag_run_id"]

        run = airflow_deployment.wait_for_run(DAG_ID, run_id, timeout=120)
        assert run["state"] == "success", airflow_deployment.task_log(DAG_ID, run_id, "count")
        assert run["conf"] == {"n": 3}

        response = admin.get(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/count/xcomEntries/return_value",
            params={"deserialize": True},
        )
        assert response.status_code == 200, response.text
    record = response.json()["value"]["out"]
    assert record["producer"]["task_id"] == "count"
    assert record["datastore_kind"] == "local"
    assert record["uri"].startswith("file://")
    result = json.loads((Path(record["uri"][len("file://") :]) / "result.json").read_text())
    assert result == {"n": 3, "squares": [0, 1, 4]}
    assert Path(record["uri"][len("file://") :]).is_relative_to(airflow_deployment.home / "datastore")
    assert not airflow_deployment.import_errors()


def test_a_viewer_cannot_trigger_and_anonymous_calls_are_refused(airflow_deployment, smoke_dag):
    trigger = {"logical_date": None, "conf": {"n": 1}}
    with airflow_deployment.client("viewer", "viewer") as viewer:
        assert viewer.get(f"/api/v2/dags/{DAG_ID}").status_code == 200  # the token itself is fine
        response = viewer.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json=trigger)
        assert response.status_code == 403, response.text
    with airflow_deployment.client(user=None) as anonymous:
        assert anonymous.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json=trigger).status_code == 401
        assert anonymous.get(f"/api/v2/dags/{DAG_ID}").status_code == 401
    with pytest.raises(PermissionError, match="401"):
        airflow_deployment.token("admin", "wrong password")
