"""The Makefile's local Airflow: `make demo`, `make ui`, and the CLIs against make ui's home.

They run as a user types them (tests/services/local_ui.py): in a copy of the working tree, from
a fresh shell whose PATH lacks the virtualenv and whose HOME is new, so nothing may land in
`~/airflow`. `make ui` gets a free port with `PORT=`, which also proves the execution API URL
follows the port (a run's tasks call back to it).
"""

from __future__ import annotations

import json
import runpy
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.services.local_ui import HEALTH_KEYS, LocalCheckout, LocalUI

PUBLISHED = "My_Published_Pipeline"
#: A DAG of dags/ made with `to_dag` (not published): Airflow's own pause-at-creation applies to it.
NOT_PUBLISHED = "mlpipe_transfer_example"
RUN_TIMEOUT_SECONDS = 300

local_airflow = runpy.run_path(str(REPO / "scripts" / "local_airflow.py"))


def test_local_airflow_forces_the_repos_home_and_puts_the_venv_first(tmp_path):
    env = local_airflow["environment"]({"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin"})
    assert env["AIRFLOW_HOME"] == str(REPO / ".airflow")  # not the deployment exported in the shell
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert env["PATH"].split(":")[0] == str(local_airflow["virtualenv_bin"]())
    assert "AIRFLOW__API__PORT" not in env


def test_local_airflow_port_moves_the_api_server_and_the_execution_api_together():
    env = local_airflow["environment"]({"PATH": ""}, port=8081)
    assert env["AIRFLOW__API__PORT"] == "8081"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:8081/execution/"


@pytest.mark.parametrize("argv", [[], ["--port", "0", "airflow"], ["--port", "70000", "airflow"]])
def test_local_airflow_refuses_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        local_airflow["parse_args"](argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert ("give a command" if not argv else "not a TCP port") in error


def _no_airflow_in_user_home(checkout: LocalCheckout) -> None:
    assert not (checkout.user_home / "airflow").exists(), "something used ~/airflow instead of .airflow"


@pytest.mark.integration
def test_make_demo_runs_the_example_and_the_second_run_reuses_every_step(local_checkout, local_demo):
    assert local_demo.returncode == 0, local_demo.stdout[-3000:] + local_demo.stderr[-3000:]
    assert "DAG mlpipe_compare_models, run manual__" in local_demo.stdout
    assert ": success" in local_demo.stdout and "ran (no entry)" in local_demo.stdout
    assert (local_checkout.root / ".airflow" / "mlpipe_datastore" / "compare_models" / "wine.csv").is_file()

    if _recorded_demo_steps(local_checkout) != {"train", "extract", "compare"}:
        local_checkout.make("demo", timeout=600)  # the README test's `reuse clear` ran first: record again
    again = local_checkout.make("demo", timeout=600)

    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    steps = [line.strip() for line in again.stdout.splitlines() if line.strip().startswith("step ")]
    assert [s.split(":")[0] for s in steps] == ["step train", "step extract", "step compare"]
    assert all("success, reused outputs of run manual__" in s for s in steps), steps
    _no_airflow_in_user_home(local_checkout)


@pytest.mark.integration
def test_make_demo_with_another_parameter_reruns_only_the_step_using_it(local_checkout, local_demo):
    assert local_demo.returncode == 0, local_demo.stdout[-3000:] + local_demo.stderr[-3000:]
    result = local_checkout.make("demo", env={"DEMO_CONF": '{"pipeline_arg": 20}'}, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    steps = dict(
        line.strip().split(": ", 1) for line in result.stdout.splitlines() if line.startswith("  step ")
    )
    assert steps["step train"].startswith("success, reused") and steps["step extract"].startswith(
        "success, reused"
    )
    assert steps["step compare"] == "success, ran (no entry)"
    assert "bootstrap rounds = pipeline_arg = 20" in result.stdout


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_make_ui_starts_every_component_on_the_chosen_port(local_ui: LocalUI):
    """Before the fix, each component died with FileNotFoundError: 'airflow' and the port never opened."""
    assert local_ui.unhealthy() == []
    log = local_ui.log()
    assert "FileNotFoundError" not in log
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert f"\n{component:10} | " in log, f"no output of {component} in make ui's log"
    with local_ui.client() as client:  # the generated password works for `admin`
        page = client.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        version = client.get("/api/v2/version")
        assert version.status_code == 200 and version.json()["version"].startswith("3.")
    assert sorted(local_ui.health() or {}) == sorted(HEALTH_KEYS)
    _no_airflow_in_user_home(local_ui.checkout)


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_a_published_pipeline_is_active_in_make_ui_and_its_rest_run_succeeds(local_ui: LocalUI):
    """make ui keeps Airflow's pause-at-creation; publish() DAGs are active anyway (v1: published = active).

    Before the fix the submit got 409 (disabled) until someone enabled the pipeline. The run
    succeeding also shows the tasks reach the execution API on the non-default port.
    """
    with local_ui.client() as client:
        published = _wait_for_dag(client, PUBLISHED)
        assert published["is_paused"] is False, "the published DAG was paused on creation"
        assert _wait_for_dag(client, NOT_PUBLISHED)["is_paused"] is True
        answer = client.post(
            f"/mlpipe/pipelines/{PUBLISHED}/submit",
            json={"ExperimentName": "make_ui_test", "ParameterAssignments": {"pipeline_arg": 3}},
        )
        assert answer.status_code == 200, answer.text
        run = _wait_for_run(client, answer.json()["Id"])
    assert run["Status"] == "Finished", f"{json.dumps(run, indent=1)}\n{local_ui.tail()}"
    [step] = run["Steps"]
    summary = Path(step["Outputs"]["summary"]["uri"].removeprefix("file://")) / "summary.json"
    assert summary.is_relative_to(local_ui.checkout.root / ".airflow" / "mlpipe_datastore")
    assert len(json.loads(summary.read_text())["strongest"]) == 3


@pytest.mark.integration
def test_make_airflow_reuse_and_data_use_make_uis_home(local_checkout, local_demo):
    dags_folder = local_checkout.make("airflow", "ARGS=config get-value core dags_folder")
    assert dags_folder.returncode == 0, dags_folder.stderr[-3000:]
    assert dags_folder.stdout.strip().splitlines()[-1] == str(local_checkout.root / "dags")

    if not _recorded_demo_steps(local_checkout):
        local_checkout.make("demo", timeout=600)  # the README test's `reuse clear` ran first: record again
    listed = local_checkout.make("reuse", "ARGS=list --json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    index = local_checkout.root / ".airflow" / "mlpipe_datastore" / "mlpipe" / "_reuse"
    on_disk = {path.stem for path in index.glob("*/*.json")}
    assert {entry["key"] for entry in json.loads(listed.stdout)} == on_disk != set()

    wine = local_checkout.root / ".airflow" / "mlpipe_datastore" / "compare_models" / "wine.csv"
    wine.unlink()
    data = local_checkout.make("data")
    assert data.returncode == 0, data.stderr[-3000:]
    assert len(wine.read_text().splitlines()) == 179
    _no_airflow_in_user_home(local_checkout)


def _recorded_demo_steps(checkout: LocalCheckout) -> set[str]:
    """The example's steps with an entry in make ui's reuse index."""
    listed = checkout.make("reuse", "ARGS=list --json --dag mlpipe_compare_models")
    return {entry["source"]["task_id"] for entry in json.loads(listed.stdout or "[]")}


def _wait_for_dag(client, dag_id: str, timeout: float = 180) -> dict:
    """The DAG once make ui's dag-processor has parsed it."""
    return _poll(client, f"/api/v2/dags/{dag_id}", lambda response: response.status_code == 200, timeout)


def _wait_for_run(client, run_id: str) -> dict:
    """`GET /mlpipe/runs/{id}` once the run has ended."""
    ended = ("Finished", "Failed", "Canceled")
    return _poll(client, f"/mlpipe/runs/{run_id}", lambda r: r.json()["Status"] in ended, RUN_TIMEOUT_SECONDS)


def _poll(client, path: str, done, timeout: float) -> dict:
    """GET `path` until `done(response)`; a slow answer (SQLite under a busy machine) is asked again."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            response = client.get(path)
        except httpx.TimeoutException:
            response = None
        if response is not None and response.status_code == 200 and done(response):
            return response.json()
        if time.monotonic() > deadline:
            detail = "timed out" if response is None else f"{response.status_code} {response.text[:2000]}"
            raise AssertionError(f"GET {path} not done after {timeout:.0f} s: {detail}")
        time.sleep(1)
