"""`POST /mlpipe/runs/{id}/cancel` and `PipelineRun.cancel()` on a real deployment: the run stops, its
running script's process tree dies, no further step starts, a deferred Databricks step's run is
cancelled, the run reads Canceled; auth as for the other routes."""

from __future__ import annotations

import pytest

from airflow_provider_mlpipe import PipelineRun, Workspace
from tests.integration.live_runs import AFTER_SCRIPT, LOOP_SCRIPT, loop_pids, running, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

SCRIPT_PIPELINE = "mlpipe_cancel_script"
DATABRICKS_PIPELINE = "mlpipe_cancel_databricks"

SCRIPT_DAG = f"""
from airflow_provider_mlpipe import Pipeline, PipelineParameter, PythonScriptStep

loop = PythonScriptStep(
    "loop.py", name="loop", source_directory="{SCRIPT_PIPELINE}_src", allow_reuse=False,
    arguments=[PipelineParameter("marker", "unset"), PipelineParameter("ticks", 300)],
)
after = PythonScriptStep(
    "after.py", name="after", source_directory="{SCRIPT_PIPELINE}_src", allow_reuse=False,
    arguments=[PipelineParameter("after_marker", "unset")],
)
after.run_after(loop)
dag = Pipeline([after]).publish("{SCRIPT_PIPELINE}")
"""

# Deferrable whatever the deployment's [operators] default_deferrable says.
DATABRICKS_DAG = f"""
from airflow_provider_mlpipe import DatabricksStep, Pipeline

step = DatabricksStep(
    name="remote", python_script_name="job.py", source_directory="{DATABRICKS_PIPELINE}_src",
    python_script_params=["--hang"], existing_cluster_id="cluster-1", allow_reuse=False,
)
dag = Pipeline([step]).publish("{DATABRICKS_PIPELINE}").dag
dag.task_dict["remote"].deferrable = True
dag.task_dict["remote"].poll_interval = 0.5
"""


@pytest.fixture(scope="module")
def deployment(airflow_deployment):
    airflow_deployment.write_dag(
        SCRIPT_PIPELINE, SCRIPT_DAG, {"loop.py": LOOP_SCRIPT, "after.py": AFTER_SCRIPT}
    )
    airflow_deployment.write_dag(DATABRICKS_PIPELINE, DATABRICKS_DAG, {"job.py": "print('job')\n"})
    airflow_deployment.wait_for_dag(SCRIPT_PIPELINE, timeout=120)
    airflow_deployment.wait_for_dag(DATABRICKS_PIPELINE, timeout=120)
    return airflow_deployment


def submit(deployment, name: str, parameters: dict) -> str:
    with deployment.client() as admin:
        answer = admin.post(
            f"/mlpipe/pipelines/{name}/submit",
            json={"ExperimentName": "cancel_exp", "ParameterAssignments": parameters},
        )
    assert answer.status_code == 200, answer.text
    return answer.json()["Id"]


def task_state(deployment, dag_id: str, run_id: str, task_id: str) -> str | None:
    return deployment.task_states(dag_id, run_id).get(task_id)


def test_cancel_over_rest_kills_the_script_and_starts_no_further_step(deployment, tmp_path):
    marker, after_marker = tmp_path / "loop.txt", tmp_path / "after.txt"
    with deployment.client("admin", "admin") as admin, deployment.client("viewer", "viewer") as viewer:
        assert admin.post("/mlpipe/runs/no_such_run/cancel").status_code == 404

        run_id = submit(
            deployment, SCRIPT_PIPELINE, {"marker": str(marker), "after_marker": str(after_marker)}
        )
        wait_for(lambda: loop_pids(marker), 180, "the loop step to start ticking")
        pids = loop_pids(marker)

        refused = viewer.post(f"/mlpipe/runs/{run_id}/cancel")
        assert refused.status_code == 403, refused.text
        assert all(running(pid) for pid in pids), "a refused cancel stopped something"

        answer = admin.post(f"/mlpipe/runs/{run_id}/cancel")
        assert answer.status_code == 200, answer.text
        assert answer.json()["Status"] == "Canceled"

        # The task's supervisor learns of it at its next heartbeat and kills the task.
        wait_for(lambda: not [pid for pid in pids if running(pid)], 60, "the script's process tree to die")
        assert deployment.wait_for_run(SCRIPT_PIPELINE, run_id, timeout=60)["state"] == "failed"
        run = admin.get(f"/mlpipe/runs/{run_id}").json()
        assert run["Status"] == "Canceled"
        assert {s["Name"]: s["Status"] for s in run["Steps"]} == {"loop": "Canceled", "after": "Canceled"}
        assert not after_marker.exists(), "a step started after the cancel"
        log = deployment.task_log(SCRIPT_PIPELINE, run_id, "loop")
        assert "killing the script's process tree" in log

        again = admin.post(f"/mlpipe/runs/{run_id}/cancel")
        assert again.status_code == 200 and again.json()["Status"] == "Canceled"


def test_cancel_of_an_ended_run_is_a_conflict_and_the_client_leaves_it(deployment, tmp_path):
    run_id = submit(
        deployment,
        SCRIPT_PIPELINE,
        {"marker": str(tmp_path / "loop.txt"), "after_marker": str(tmp_path / "after.txt"), "ticks": 0},
    )
    assert deployment.wait_for_run(SCRIPT_PIPELINE, run_id, timeout=180)["state"] == "success"
    with deployment.client() as admin:
        answer = admin.post(f"/mlpipe/runs/{run_id}/cancel")
    assert answer.status_code == 409, answer.text
    assert "already ended" in answer.json()["detail"]
    workspace = Workspace.connect(deployment.url, username="admin", password="admin")
    try:
        run = PipelineRun.get(workspace, run_id)
        run.cancel()
        assert run.get_status() == "Finished"
    finally:
        workspace.close()


def test_cancel_of_a_deferred_databricks_step_cancels_its_run(deployment, databricks_standin):
    connection = {
        "connection_id": "databricks_default",
        "conn_type": "databricks",
        "host": databricks_standin.url,
        "password": databricks_standin.token,
    }
    with deployment.client() as admin:
        admin.delete("/api/v2/connections/databricks_default")
        created = admin.post("/api/v2/connections", json=connection)
        assert created.status_code in (200, 201), created.text

    run_id = submit(deployment, DATABRICKS_PIPELINE, {})
    wait_for(
        lambda: task_state(deployment, DATABRICKS_PIPELINE, run_id, "remote") == "deferred",
        180,
        "the Databricks step to defer",
    )
    [databricks_run] = list(databricks_standin.runs)
    assert databricks_standin.runs[databricks_run].state["life_cycle_state"] == "RUNNING"

    workspace = Workspace.connect(deployment.url, username="admin", password="admin")
    try:
        run = PipelineRun.get(workspace, run_id)
        run.cancel()  # the client's route: POST /mlpipe/runs/{id}/cancel
        # At once after the deferral the triggerer may not run the trigger yet (then it never calls
        # its on_kill): the cancel calls the trigger's on_kill itself.
        record = databricks_standin.wait_until_state(databricks_run, "TERMINATED", timeout=120)
        assert record.state["result_state"] == "CANCELED"
        assert run.get_status() == "Canceled"
        assert [s.status for s in run.get_steps()] == ["Canceled"]
    finally:
        workspace.close()


def test_cancel_needs_the_right_to_change_runs(deployment):
    """Anonymous callers get 401 (the route is authenticated like every /mlpipe route)."""
    with deployment.client(None) as anonymous:
        assert anonymous.post("/mlpipe/runs/whatever/cancel").status_code == 401
