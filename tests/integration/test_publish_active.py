"""Published pipelines are active on creation (v1), on a real deployment: what the author overrides, and what sticks.

The session deployment unpauses every new DAG (`[core] dags_are_paused_at_creation = False`);
that a published DAG is active where Airflow's default pauses new DAGs is shown on `make ui`
(tests/project/test_make_targets.py). Here: the author's `is_paused_upon_creation=True` wins, and a
pipeline disabled over REST stays disabled when its file is parsed again.
"""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

ACTIVE = "mlpipe_published_active"
KEPT_PAUSED = "mlpipe_published_kept_paused"
DAG_FILE = """
from airflow_provider_mlpipe import Pipeline, PipelineParameter, PythonScriptStep

step = PythonScriptStep(
    "noop.py", name="noop", arguments=["--n", PipelineParameter("n", 1)], source_directory="{name}_src"
)
dag = Pipeline([step]).publish("{name}", version="1.0"{extra})
"""
SCRIPTS = {"noop.py": "print('nothing to do')\n"}


def _publish(deployment, name: str, extra: str = "") -> None:
    deployment.write_dag(name, DAG_FILE.format(name=name, extra=extra), SCRIPTS)
    deployment.wait_for_dag(name, timeout=120)


def _submit(client, name: str):
    return client.post(f"/mlpipe/pipelines/{name}/submit", json={"ExperimentName": "active_test"})


def test_the_author_can_keep_a_published_pipeline_disabled_until_enabled(airflow_deployment):
    _publish(airflow_deployment, KEPT_PAUSED, extra=", is_paused_upon_creation=True")
    with airflow_deployment.client() as client:
        assert _dag(client, KEPT_PAUSED)["is_paused"] is True
        refused = _submit(client, KEPT_PAUSED)
        assert refused.status_code == 409 and "disabled" in refused.text
        assert client.post(f"/mlpipe/pipelines/{KEPT_PAUSED}/enable").json()["Status"] == "Active"
        assert _submit(client, KEPT_PAUSED).status_code == 200


def test_a_disabled_pipeline_stays_disabled_when_its_file_is_parsed_again(airflow_deployment):
    _publish(airflow_deployment, ACTIVE)
    with airflow_deployment.client() as client:
        assert _dag(client, ACTIVE)["is_paused"] is False
        parsed = _dag(client, ACTIVE)["last_parsed_time"]
        assert client.post(f"/mlpipe/pipelines/{ACTIVE}/disable").json()["Status"] == "Disabled"
        try:
            deadline = time.monotonic() + 120
            while (dag := _dag(client, ACTIVE))["last_parsed_time"] == parsed:
                assert time.monotonic() < deadline, "the dag-processor did not parse the file again"
                time.sleep(1)
            assert dag["is_paused"] is True
            assert _submit(client, ACTIVE).status_code == 409
        finally:
            client.post(f"/mlpipe/pipelines/{ACTIVE}/enable")


def _dag(client, dag_id: str, attempts: int = 5) -> dict:
    """`GET /api/v2/dags/{dag_id}`, asked again when a busy machine makes the answer time out."""
    for attempt in range(attempts):
        try:
            response = client.get(f"/api/v2/dags/{dag_id}")
        except httpx.TimeoutException:
            if attempt == attempts - 1:
                raise
            continue
        response.raise_for_status()
        return response.json()
    raise AssertionError("unreachable")
