"""`datastore_schedule` in a real deployment: the triggerer watches a local folder datastore and
each new file becomes one asset event and one DAG run, which reads the file's path from the event.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.services.airflow_deployment import AirflowDeployment

pytest_plugins = ["tests.services.airflow_deployment"]

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

DAG_ID = "watch_incoming"
CONN_ID = "watch_store"

DAG_CODE = """
from airflow.sdk import DAG, task

from airflow_provider_mlpipe import Datastore, datastore_schedule

incoming = datastore_schedule(Datastore("watch_store"), "incoming", polling_interval=1 / 60)

with DAG("watch_incoming", schedule=[incoming], catchup=False):

    @task
    def new_files(triggering_asset_events=None):
        return [
            event.extra["payload"]["path_on_datastore"]
            for events in triggering_asset_events.values()
            for event in events
        ]

    new_files()
"""


def runs(deployment: AirflowDeployment) -> list[dict]:
    with deployment.client() as client:
        response = client.get(f"/api/v2/dags/{DAG_ID}/dagRuns", params={"order_by": "run_after"})
        response.raise_for_status()
        return response.json()["dag_runs"]


def wait_until(condition, what: str, deployment: AirflowDeployment, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}\n{deployment.describe_logs(['triggerer', 'scheduler'])}")
        time.sleep(0.5)


def test_each_new_file_starts_one_run_that_sees_its_path(
    airflow_deployment: AirflowDeployment, tmp_path: Path
) -> None:
    root = tmp_path / "watched"
    (root / "incoming").mkdir(parents=True)
    (root / "incoming" / "already_there.csv").write_text("old\n")
    with airflow_deployment.client() as client:
        client.delete(f"/api/v2/connections/{CONN_ID}")
        response = client.post(
            "/api/v2/connections",
            json={"connection_id": CONN_ID, "conn_type": "mlpipe_local", "extra": f'{{"root": "{root}"}}'},
        )
        assert response.status_code in (200, 201), response.text

    airflow_deployment.write_dag(DAG_ID, DAG_CODE)
    airflow_deployment.wait_for_dag(DAG_ID)
    # The first poll records the baseline: the file already there starts nothing.
    state = root / "mlpipe" / "_watch"
    wait_until(
        lambda: any(state.rglob("v*.json")), "the watch never recorded its baseline", airflow_deployment
    )
    time.sleep(3)
    assert runs(airflow_deployment) == []

    finished: list[dict] = []
    for n, name in enumerate(["first.csv", "second.csv"], start=1):
        (root / "incoming" / name).write_text(f"{name}\n")
        wait_until(lambda n=n: len(runs(airflow_deployment)) >= n, f"no run for {name}", airflow_deployment)
        run = runs(airflow_deployment)[n - 1]
        assert run["run_type"] == "asset_triggered"
        finished.append(airflow_deployment.wait_for_run(DAG_ID, run["dag_run_id"]))

    # Nothing new: no more runs (several polls of the 1 s interval).
    time.sleep(8)
    assert len(runs(airflow_deployment)) == 2
    assert [r["state"] for r in finished] == ["success", "success"]
    seen = [airflow_deployment.xcom(DAG_ID, r["dag_run_id"], "new_files") for r in finished]
    assert seen == [["incoming/first.csv"], ["incoming/second.csv"]]
