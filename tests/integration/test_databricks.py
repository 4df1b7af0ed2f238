"""DatabricksStep for real: the real databricks-sdk over HTTP against the Jobs API stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import DAGS_FOLDER, REPO
from tests.integration.dagruns import run_dag, task_states, write_project, xcom_value

pytestmark = pytest.mark.integration

EXAMPLE_ID = "mlpipe_databricks_example"


def submits(standin) -> list[dict]:
    return [body for method, path, body in standin.requests if path.endswith("/jobs/runs/submit")]


def example_file() -> Path:
    target = DAGS_FOLDER / f"{EXAMPLE_ID}.py"
    if not target.exists():
        target.symlink_to(REPO / "dags" / f"{EXAMPLE_ID}.py")
    return target


def local(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_example_flows_data_through_the_databricks_step(databricks_default, monkeypatch, deferrable):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    dag_run = run_dag(example_file(), EXAMPLE_ID, conf={"scale": 2.0, "regenerate_outputs": True})

    assert task_states(dag_run) == {"prep": "success", "featurize": "success", "report": "success"}
    [body] = submits(databricks_default)
    task = body["tasks"][0]
    assert task["new_cluster"] == {
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "Standard_D3_v2",
        "num_workers": 1,
    }
    python = task["spark_python_task"]
    assert python["python_file"].startswith("dbfs:/mlpipe/code/") and python["python_file"].endswith(
        "/featurize.py"
    )
    prepared = xcom_value(dag_run, "prep")["prepared"]
    params = python["parameters"]
    assert params[:2] == ["--scale", "2.0"]
    assert params[params.index("--prepared") + 1] == prepared["uri"]
    features = xcom_value(dag_run, "featurize")["features"]
    assert params[params.index("--features") + 1] == features["uri"]
    assert (local(features["uri"]) / "features.csv").is_file(), "the run wrote where its argument said"
    report = json.loads((local(xcom_value(dag_run, "report")["report"]["uri"]) / "report.json").read_text())
    assert report == {"rows": 178, "columns": 13, "max_abs_value": report["max_abs_value"]}
    assert 2 * 3 < report["max_abs_value"] < 2 * 6  # standardised, times the scale of 2.0

    run_id = xcom_value(dag_run, "featurize", key="databricks_run_id")
    assert run_id in databricks_default.runs, "the run id is kept in XCom, through deferral too"
    page = xcom_value(dag_run, "featurize", key="databricks_run_page_url")
    assert page == f"{databricks_default.url}/#job/runs/{run_id}"
    assert xcom_value(dag_run, "featurize", key="_link_DatabricksRunLink") == page


def test_an_unchanged_databricks_step_submits_nothing(databricks_default):
    first = run_dag(example_file(), EXAMPLE_ID, conf={"scale": 3.0})
    assert task_states(first)["featurize"] == "success"
    count = len(submits(databricks_default))
    second = run_dag(example_file(), EXAMPLE_ID, conf={"scale": 3.0})
    assert task_states(second) == {"prep": "success", "featurize": "success", "report": "success"}
    assert len(submits(databricks_default)) == count
    assert xcom_value(second, "featurize", key="mlpipe_reuse")["decision"] == "hit"
    run_dag(example_file(), EXAMPLE_ID, conf={"scale": 4.0})
    assert len(submits(databricks_default)) == count + 1, "a changed parameter is a changed run spec"


def failing_project(name: str, script: str) -> Path:
    return write_project(
        name,
        f"""
        from airflow_provider_mlpipe import DatabricksStep, Pipeline, PipelineData
        out = PipelineData("out")
        step = DatabricksStep(
            name="remote", python_script_name="job.py", source_directory="{name}_src",
            python_script_params=["--fail"], outputs=[out], existing_cluster_id="cluster-1",
        )
        dag = Pipeline([step]).to_dag("{name}")
        """,
        {"job.py": script},
    )


def test_a_failed_run_fails_the_task_with_the_runs_error(databricks_default, capfd):
    dag_file = failing_project(
        "databricks_failing",
        "import sys\nprint('ValueError: the input has no rows', file=sys.stderr)\nsys.exit(1)\n",
    )
    dag_run = run_dag(dag_file, "databricks_failing")
    log = capfd.readouterr().out
    assert task_states(dag_run) == {"remote": "failed"}
    assert "step 'remote': Databricks run" in log and "ended TERMINATED/FAILED" in log
    assert "ValueError: the input has no rows" in log
    assert xcom_value(dag_run, "remote") is None


def test_killing_the_task_cancels_the_run(databricks_default):
    write_project(
        "databricks_killed",
        """
        from airflow_provider_mlpipe import DatabricksStep, Pipeline
        step = DatabricksStep(
            name="remote", python_script_name="job.py", source_directory="databricks_killed_src",
            python_script_params=["--hang"], existing_cluster_id="cluster-1",
        )
        dag = Pipeline([step]).to_dag("databricks_killed")
        """,
        {"job.py": "import time\ntime.sleep(120)\n"},
    )
    task = subprocess.Popen(
        [str(Path(sys.executable).with_name("airflow")), "tasks", "test", "databricks_killed", "remote"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not [r for r in databricks_default.runs.values() if r.state["life_cycle_state"] == "RUNNING"]:
            assert task.poll() is None, task.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.2)
        [run_id] = list(databricks_default.runs)
        task.send_signal(signal.SIGTERM)
        output, _ = task.communicate(timeout=60)
    finally:
        if task.poll() is None:
            task.kill()
    assert f"cancelling Databricks run {run_id}" in output
    assert databricks_default.wait_until_state(run_id, "TERMINATED").state["result_state"] == "CANCELED"


def test_the_trigger_round_trips_and_cancels_in_on_kill(databricks_default):
    from airflow_provider_mlpipe.hooks.databricks import DatabricksHook
    from airflow_provider_mlpipe.triggers.databricks import DatabricksRunTrigger

    hook = DatabricksHook()
    task = {
        "task_key": "t",
        "existing_cluster_id": "c",
        "notebook_task": {"notebook_path": "/x", "base_parameters": {"outcome": "hang"}},
    }
    run_id = hook.submit("hang", task, "token-hang", None)
    classpath, kwargs = DatabricksRunTrigger(run_id, "databricks_default", 0.1).serialize()
    assert classpath == "airflow_provider_mlpipe.triggers.databricks.DatabricksRunTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    module, name = classpath.rsplit(".", 1)
    trigger = getattr(__import__(module, fromlist=[name]), name)(**kwargs)

    async def first_event_or_timeout():
        try:
            return await asyncio.wait_for(trigger.run().__anext__(), timeout=1.0)
        except TimeoutError:
            return None

    assert asyncio.run(first_event_or_timeout()) is None, "a running run fires no event"
    asyncio.run(trigger.on_kill())
    event = asyncio.run(trigger.run().__anext__())
    assert event.payload["result_state"] == "CANCELED" and event.payload["run_id"] == run_id
    for bad in ({"run_id": 0}, {"run_id": "7"}, {"poll_interval": 0}):
        with pytest.raises(ValueError):
            DatabricksRunTrigger(**{"run_id": 1, "databricks_conn_id": "c", **bad})


def test_a_retry_reattaches_to_a_live_run_and_resubmits_after_a_failed_one(databricks_default):
    from airflow_provider_mlpipe.hooks.databricks import DatabricksHook
    from airflow_provider_mlpipe.operators.databricks import DatabricksStepOperator

    operator = DatabricksStepOperator(
        task_id="remote",
        step_name="remote",
        task_spec={"kind": "notebook"},
        cluster_spec={"existing_cluster_id": "c"},
    )
    pushed = {}
    ti = SimpleNamespace(
        dag_id="d",
        run_id="r",
        task_id="remote",
        try_number=1,
        xcom_push=lambda key, value: pushed.update({key: value}),
    )
    hang = {
        "task_key": "t",
        "existing_cluster_id": "c",
        "notebook_task": {"notebook_path": "/x", "base_parameters": {"outcome": "hang"}},
    }
    hook = DatabricksHook()
    first = operator._submit_or_attach(hook, hang, ti)
    assert operator._submit_or_attach(hook, hang, ti) == first, (
        "the same try submits once (idempotency token)"
    )
    ti.try_number = 2
    assert operator._submit_or_attach(hook, hang, ti) == first, "a retry after a worker died re-attaches"
    assert pushed["databricks_run_id"] == first and len(databricks_default.runs) == 1
    hook.cancel(first)
    databricks_default.wait_until_state(first, "TERMINATED")
    ti.try_number = 3
    second = operator._submit_or_attach(hook, hang, ti)
    assert second != first and len(databricks_default.runs) == 2, "after a failed run, a retry runs again"
    hook.cancel(second)


def test_a_dead_host_fails_fast_and_auth_is_explicit(monkeypatch):
    from airflow_provider_mlpipe.hooks.databricks import DatabricksHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_DEAD",
        json.dumps({"conn_type": "databricks", "host": "http://127.0.0.1:9", "password": "t"}),
    )
    hook = DatabricksHook("dead", retry_timeout_seconds=3, http_timeout_seconds=2)
    assert hook.config_options()["auth_type"] == "pat"
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - the SDK's own error for an unreachable host
        hook.get_run_state(1)
    assert time.monotonic() - started < 30
    monkeypatch.setenv(
        "AIRFLOW_CONN_SP",
        json.dumps(
            {
                "conn_type": "databricks",
                "host": "adb-1.azuredatabricks.net",
                "login": "app",
                "password": "secret",
                "extra": {"azure_tenant_id": "tenant"},
            }
        ),
    )
    options = DatabricksHook("sp").config_options()
    assert (
        options["auth_type"] == "azure-client-secret"
        and options["host"] == "https://adb-1.azuredatabricks.net"
    )
    assert (options["azure_client_id"], options["azure_tenant_id"]) == ("app", "tenant")


def test_test_connection_signs_in_and_reports_the_server_reason(databricks_default, monkeypatch):
    from airflow_provider_mlpipe.hooks.databricks import DatabricksHook

    assert DatabricksHook().test_connection() == (
        True,
        f"Signed in to Databricks workspace {databricks_default.url} as {databricks_default.user_name}.",
    )
    assert ("GET", "/api/2.0/preview/scim/v2/Me", {}) in databricks_default.requests

    def tested(**connection):
        monkeypatch.setenv("AIRFLOW_CONN_PROBE", json.dumps({"conn_type": "databricks", **connection}))
        return DatabricksHook("probe", retry_timeout_seconds=3, http_timeout_seconds=2).test_connection()

    ok, message = tested(host=databricks_default.url, password="dapi-expired")
    assert not ok and message.startswith(
        f"Databricks workspace {databricks_default.url}: Invalid access token."
    )
    assert "auth_type=pat" in message and "dapi-expired" not in message  # the SDK's context, token masked
    ok, message = tested(host="http://127.0.0.1:9", password="t")
    assert not ok and message.startswith("Databricks workspace http://127.0.0.1:9: ")
    assert tested(password="t") == (False, "Databricks 'probe': Databricks connection 'probe' has no host")
