"""v1's datastore schedule with `data_path_parameter_name`, on a real deployment watching Azurite.

Each new or changed blob under the watched path starts exactly one run of the published pipeline
with its DataPath parameter set to that blob, also when several blobs arrive at once and across a
restart of the triggerer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.services.airflow_deployment import AirflowDeployment
from tests.services.azurite import AzuriteServer, blob_connection

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

PIPELINE = "count_new_rows"
DISPATCHER = f"{PIPELINE}__on_new_data"
CONN_ID = "drop_store"
CONTAINER = "drops"

DAG_CODE = """
# An Airflow DAG file (the words airflow and dag let safe-mode discovery parse it).

from airflow_provider_mlpipe import (
    DataPath, DataPathComputeBinding, Datastore, Pipeline, PipelineData, PipelineParameter,
    PythonScriptStep, datastore_schedule,
)

store = Datastore("drop_store")
input_path = PipelineParameter("input_path", default_value=DataPath(store, "incoming/none.csv"))
counted = PipelineData("counted", datastore=store)
count = PythonScriptStep(
    name="count_rows",
    script_name="count.py",
    source_directory="count_new_rows_src",
    arguments=["--data", input_path, "--out", counted],
    inputs=[(input_path, DataPathComputeBinding(mode="download"))],
    outputs=[counted],
)
Pipeline(steps=[count]).publish(
    "count_new_rows",
    version="1",
    schedule=datastore_schedule(
        store, "incoming", polling_interval=1 / 60, data_path_parameter_name="input_path"
    ),
)
"""

COUNT_SCRIPT = """
import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--data")
parser.add_argument("--out")
args = parser.parse_args()
rows = len(Path(args.data).read_text().splitlines())
Path(args.out).mkdir(parents=True, exist_ok=True)
(Path(args.out) / "count.txt").write_text(f"{Path(args.data).name} {rows}\\n")
print(f"{args.data}: {rows} rows")
"""


def pipeline_runs(deployment: AirflowDeployment) -> list[dict]:
    with deployment.client() as client:
        response = client.get(f"/api/v2/dags/{PIPELINE}/dagRuns", params={"order_by": "run_after"})
        response.raise_for_status()
        return response.json()["dag_runs"]


def wait_until(condition: Callable[[], bool], what: str, deployment: AirflowDeployment) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}\n{deployment.describe_logs(['triggerer', 'scheduler'])}")
        time.sleep(0.5)


def wait_for_runs(deployment: AirflowDeployment, count: int) -> list[dict]:
    """Wait until the pipeline has `count` runs and all have finished; a few more polls show no extra."""
    wait_until(lambda: len(pipeline_runs(deployment)) >= count, f"fewer than {count} runs", deployment)
    finished = [deployment.wait_for_run(PIPELINE, r["dag_run_id"]) for r in pipeline_runs(deployment)]
    time.sleep(6)  # six polls of the 1 s interval and time for the dispatcher to run again
    assert len(pipeline_runs(deployment)) == count, [r["dag_run_id"] for r in pipeline_runs(deployment)]
    return finished


def test_each_new_or_changed_blob_starts_one_run_with_its_data_path(
    airflow_deployment: AirflowDeployment, azurite: AzuriteServer
) -> None:
    service = azurite.service_client()
    container = service.get_container_client(CONTAINER)
    if not container.exists():
        container.create_container()
    container.upload_blob("incoming/already_there.csv", b"a\nb\n", overwrite=True)
    with airflow_deployment.client() as client:
        client.delete(f"/api/v2/connections/{CONN_ID}")
        connection = blob_connection(azurite, CONTAINER)
        response = client.post(
            "/api/v2/connections",
            json={
                "connection_id": CONN_ID,
                "conn_type": connection["conn_type"],
                "extra": json.dumps(connection["extra"]),
            },
        )
        assert response.status_code in (200, 201), response.text

    airflow_deployment.write_dag(PIPELINE, DAG_CODE, scripts={"count.py": COUNT_SCRIPT})
    pipeline_dag = airflow_deployment.wait_for_dag(PIPELINE)
    airflow_deployment.wait_for_dag(DISPATCHER)
    assert pipeline_dag["timetable_summary"] in (None, "None")

    # The first poll records the blob already there as the baseline: it starts nothing.
    wait_until(
        lambda: any(container.list_blobs(name_starts_with="mlpipe/_watch/")),
        "the watch never recorded its baseline",
        airflow_deployment,
    )
    time.sleep(3)
    assert pipeline_runs(airflow_deployment) == []

    # Two blobs at once: Airflow may fold their asset events into one dispatcher run; still two runs.
    container.upload_blob("incoming/a.csv", b"1\n2\n3\n")
    container.upload_blob("incoming/b.csv", b"1\n2\n3\n4\n5\n")
    runs = wait_for_runs(airflow_deployment, 2)

    # A triggerer restart announces nothing again; a changed blob and a new one start one run each.
    airflow_deployment.restart("triggerer")
    time.sleep(8)
    assert len(pipeline_runs(airflow_deployment)) == 2
    container.upload_blob("incoming/a.csv", b"1\n2\n3\n4\n5\n6\n7\n", overwrite=True)
    container.upload_blob("incoming/c.csv", b"only\n")
    runs = wait_for_runs(airflow_deployment, 4)

    assert [r["state"] for r in runs] == ["success"] * 4
    assert all(r["dag_run_id"].startswith("datastore__") for r in runs)
    bound = sorted(r["conf"]["input_path"]["path_on_datastore"] for r in runs)
    assert bound == ["incoming/a.csv", "incoming/a.csv", "incoming/b.csv", "incoming/c.csv"]
    assert {r["conf"]["input_path"]["datastore"] for r in runs} == {CONN_ID}
    counts = sorted(
        container.download_blob(f"mlpipe/{PIPELINE}/{r['dag_run_id']}/count_rows/counted/count.txt")
        .readall()
        .decode()
        .strip()
        for r in runs
    )
    assert counts == ["a.csv 3", "a.csv 7", "b.csv 5", "c.csv 1"]
    # One asset event per change (none re-announced by the restarted triggerer), one run per event.
    with airflow_deployment.client() as client:
        response = client.get("/api/v2/assets/events", params={"limit": 100})
        response.raise_for_status()
    events = [e for e in response.json()["asset_events"] if e["uri"] == f"mlpipe://{CONN_ID}/incoming"]
    assert sorted(f"datastore__{e['id']}" for e in events) == sorted(r["dag_run_id"] for r in runs)

    # Disabling the published pipeline pauses its datastore schedule too (v1), enabling resumes both.
    def paused() -> list[bool]:
        with airflow_deployment.client() as client:
            return [client.get(f"/api/v2/dags/{d}").json()["is_paused"] for d in (PIPELINE, DISPATCHER)]

    with airflow_deployment.client() as client:
        assert client.post(f"/mlpipe/pipelines/{PIPELINE}/disable").json()["Status"] == "Disabled"
        assert paused() == [True, True]
        assert client.post(f"/mlpipe/pipelines/{PIPELINE}/enable").json()["Status"] == "Active"
        assert paused() == [False, False]
