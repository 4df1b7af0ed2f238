"""The v1 intro-to-pipelines notebooks, ported (`tests/notebook_ports/`), each run two ways: against
the embedded local Airflow (no config file, so `Workspace.from_config()` is the local workspace) and
against a real Airflow deployment (a config.json naming it), where the port's DAG file publishes the
pipelines the notebook builds.

The notebooks' "workspaceblobstore" is a folder datastore: an Airflow connection of that name, in
this process's environment and in the deployment, on the same folder. The data a notebook expects
to find (left by an earlier notebook, or by its reader) is put there first.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path
from types import ModuleType

import pytest

from airflow_provider_mlpipe import PipelineRun, PublishedPipeline, Workspace
from tests.conftest import REPO
from tests.notebook_ports import data_dependency, datapath, endpoints, getting_started, publish_rest, schedule

#: A port that hangs (a wait that never ends) fails in minutes, not at the suite's 10-minute limit.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

#: Each port, and the pipelines its DAG file publishes on the deployment.
DEPLOYED: dict[ModuleType, tuple[str, ...]] = {
    getting_started: (getting_started.PARALLEL, getting_started.SEQUENCE),
    data_dependency: (data_dependency.PUBLISHED,),
    publish_rest: ("My_New_Pipeline", "My_New_Pipeline2"),
    endpoints: (endpoints.PUBLISHED, endpoints.ENDPOINT_PIPELINE),
    schedule: (schedule.PUBLISHED, schedule.ENDPOINT_PIPELINE),
    datapath: ("DataPath_Pipeline",),
}
BLOB_STORE = "workspaceblobstore"
#: Seconds for a run of a port's pipeline, and for the dag-processor to parse a port's DAG file.
RUN_TIMEOUT = 180
PARSE_TIMEOUT = 120
#: The pickled headlines the publish-and-run notebook reads (20newsgroups/20news.pkl).
HEADLINES = ["markets rally on strong earnings", "rain", "new telescope spots distant galaxy", "team wins"]


def _folder_connection(root: Path) -> dict[str, object]:
    return {"conn_type": "mlpipe_local", "extra": {"root": str(root)}}


def _stem(port: ModuleType) -> str:
    return port.__name__.rsplit(".", 1)[-1]


def _dag_file(port: ModuleType) -> tuple[str, dict[str, str]]:
    """The port as a DAG file (its source, then the call that publishes) and its scripts, by path."""
    source = Path(port.__file__)
    scripts_root = source.with_name(f"{_stem(port)}_src")
    scripts = {
        path.relative_to(scripts_root).as_posix(): path.read_text() for path in scripts_root.rglob("*.py")
    }
    return f"{source.read_text()}\n\npublish_in_dag_file()\n", scripts


def _put_titanic(store: Path) -> None:
    """What the getting-started notebook leaves on the blob datastore, which data_dependency reads."""
    (store / "titanic").mkdir(parents=True, exist_ok=True)
    (store / "titanic" / "Titanic.csv").write_text(getting_started.PASSENGERS)


def _put_headlines(store: Path) -> None:
    """What an earlier notebook leaves on the blob datastore, which publish_rest reads."""
    (store / "20newsgroups").mkdir(parents=True, exist_ok=True)
    (store / "20newsgroups" / "20news.pkl").write_bytes(pickle.dumps(HEADLINES))


def _put_sample_folders() -> None:
    """The folders the datapath notebook's DataPath parameter points at, on the default datastore."""
    root = Path(os.environ["AIRFLOW__MLPIPE__EMBEDDED_ROOT"])
    for number, name in ((1, "a"), (2, "b"), (3, "c")):
        (root / f"sample_datapath{number}").mkdir(parents=True, exist_ok=True)
        (root / f"sample_datapath{number}" / f"{name}.txt").write_text(name)


def _step_logs(run) -> dict[str, str]:
    return {step.name: step.get_log() for step in run.get_steps()}


def _finished(run) -> None:
    assert run.wait_for_completion(show_output=False, timeout_seconds=RUN_TIMEOUT) == "Finished"


# -- what each notebook leaves behind, wherever it ran -------------------------------------------


def _check_getting_started(parallel_run, chained_run) -> None:
    assert parallel_run.get_status() == "Finished"
    logs = _step_logs(parallel_run)
    assert sorted(logs) == ["compare_step", "extract_step", "train_step"]
    assert "trained weights [0.1, 0.2, 0.3]" in logs["train_step"]
    assert "compared: right wins" in logs["compare_step"]
    assert "extracted 3 words" in logs["extract_step"]
    # The chained pipeline has the same steps and settings: as in v1, every step is reused.
    assert chained_run.get_status() == "Finished"
    assert {step.name: step.reused for step in chained_run.get_steps()} == dict.fromkeys(logs, True)


def _check_data_dependency(run) -> None:
    assert run.get_status() == "Finished"
    logs = _step_logs(run)
    assert "train counted {'rows': 4, 'survived': 3}" in logs["train.py"]
    assert "extract found a rate of 0.75" in logs["extract.py"]
    assert "compare: 4 passengers, survival rate 0.75" in logs["compare.py"]
    [train] = run.find_step_run("train.py")
    downloaded = Path("outputs") / train.get_output_data("processed_data1").path_on_datastore
    assert json.loads((downloaded / "counts.json").read_text()) == {"rows": 4, "survived": 3}


def _compared(run, pipeline_arg: int) -> None:
    _finished(run)
    expected = f"compare: 2 kept, first words 'markets new', pipeline_arg {pipeline_arg}"
    assert expected in _step_logs(run)["compare.py"]


def _check_endpoint(made, published, renamed, runs) -> None:
    """The renamed endpoint has its first pipeline as version 0 and the published one as default 1."""
    assert made.name == "PipelineEndpointTest" and renamed.id == made.id
    assert (renamed.name, renamed.default_version) == ("NewName", "1")
    first, second = renamed.pipeline_version_list
    assert (first.version, second.version, second.pipeline_id) == ("0", "1", published.id)
    of_version, of_default, tagged = runs
    expected = [first.pipeline_id, published.id, first.pipeline_id]
    assert [of_version.pipeline_id, of_default.pipeline_id, tagged.pipeline_id] == expected
    for run in runs:
        _finished(run)
    assert tagged.get_tags() == {"endpoint_tag": "1"}
    ran = [log for run in runs for log in _step_logs(run).values()]
    assert any("endpoint step: checksum 131" in log for log in ran), ran


def _check_schedules(found: dict) -> None:
    """The schedules as the notebook left them; none came due while it ran."""
    assert found["target_id"] in [p.id for p in PublishedPipeline.list(Workspace.from_config())]
    assert (found["after_disable"], found["after_enable"]) == ("Disabled", "Active")
    updated = found["updated"]
    assert (updated.name, updated.description, updated.status) == (
        "My_Updated_Schedule",
        "Updated_Schedule_Run",
        "Active",
    )
    assert (updated.recurrence.frequency, updated.recurrence.interval) == ("Hour", 2)
    on_data = found["data_schedule"]
    assert (on_data.name, on_data.datastore_name, on_data.status) == ("My_Schedule", BLOB_STORE, "Disabled")
    assert on_data.pipeline_id == found["target_id"]
    for_endpoint = found["for_endpoint"]
    assert for_endpoint.pipeline_endpoint_id == found["endpoint"].id
    assert [s.id for s in found["of_endpoint"]] == [for_endpoint.id]
    assert (found["final"].id, found["final"].status) == (updated.id, "Disabled")
    assert for_endpoint.get_last_pipeline_run() is None


def _shows(run, number: int, name: str) -> None:
    _finished(run)
    [log] = _step_logs(run).values()
    assert f"string parameter: sample_string{number}" in log
    assert f"datapath parameter: sample_datapath{number} holds ['{name}.txt']" in log


def _check_datapath(found: dict) -> None:
    _shows(found["with_defaults"], 1, "a")
    _shows(found["with_values"], 2, "b")
    on_data = found["schedule"]
    assert (on_data.pipeline_id, on_data.status) == ("DataPath_Pipeline", "Disabled")
    assert (on_data.path_on_datastore, on_data.data_path_parameter_name) == (
        "sample_datapath_for_folder",
        "input_datapath",
    )


# -- the embedded local Airflow -------------------------------------------------------------------


@pytest.fixture
def local_notebook(tmp_path, monkeypatch) -> Path:
    """A notebook's working folder with no config.json; returns the blob datastore's folder."""
    folder = tmp_path / "notebook"
    folder.mkdir()
    monkeypatch.chdir(folder)
    store = tmp_path / BLOB_STORE
    monkeypatch.setenv(f"AIRFLOW_CONN_{BLOB_STORE.upper()}", json.dumps(_folder_connection(store)))
    return store


def test_getting_started_locally(local_notebook):
    parallel_run, chained_run = getting_started.notebook()
    assert (local_notebook / "titanic" / "Titanic.csv").read_text() == getting_started.PASSENGERS
    _check_getting_started(parallel_run, chained_run)


def test_data_dependency_locally(local_notebook):
    _put_titanic(local_notebook)
    _check_data_dependency(data_dependency.notebook())


def test_publish_rest_locally(local_notebook):
    _put_headlines(local_notebook)
    run, first, second, found = publish_rest.notebook()
    _compared(run, 10)
    assert (first.name, first.continue_on_step_failure) == ("My_New_Pipeline", True)
    assert (second.name, second.version, second.continue_on_step_failure) == ("My_New_Pipeline2", "0.1", True)
    assert found.id == first.id == "My_New_Pipeline"


def test_endpoints_locally(local_notebook):
    made, published, renamed, *runs = endpoints.notebook()
    _check_endpoint(made, published, renamed, runs)


def test_schedule_locally(local_notebook):
    _check_schedules(schedule.notebook())


def test_datapath_locally(local_notebook):
    _put_sample_folders()
    _check_datapath(datapath.notebook())


# -- a real deployment ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployment(airflow_deployment, tmp_path_factory):
    """The deployment with the blob datastore, the schedules' DAG file and every port's DAG file."""
    store = tmp_path_factory.mktemp("deployment") / BLOB_STORE
    connection = _folder_connection(store)
    body = {
        "connection_id": BLOB_STORE,
        "conn_type": connection["conn_type"],
        "extra": json.dumps(connection["extra"]),
    }
    with airflow_deployment.client() as admin:
        answer = admin.post("/api/v2/connections", json=body)
        if answer.status_code == 409:  # made by another module of the session: point it here
            answer = admin.patch(f"/api/v2/connections/{BLOB_STORE}", json=body)
        assert answer.status_code in (200, 201), answer.text
    # The provider's DAG file of schedules, which a deployment copies into its DAG folder once.
    airflow_deployment.write_dag("mlpipe_schedules", (REPO / "dags" / "mlpipe_schedules.py").read_text())
    for port in DEPLOYED:
        code, scripts = _dag_file(port)
        airflow_deployment.write_dag(_stem(port), code, scripts)
    return airflow_deployment, store


def _wait_published(airflow, port: ModuleType) -> None:
    """Wait until the dag-processor has the port's pipelines; fail at once if its DAG file did not load."""
    wanted = set(DEPLOYED[port])
    deadline = time.monotonic() + PARSE_TIMEOUT
    with airflow.client() as admin:
        while True:
            wanted = {dag_id for dag_id in wanted if admin.get(f"/api/v2/dags/{dag_id}").status_code != 200}
            if not wanted:
                return
            errors = [e for e in airflow.import_errors() if e["filename"].endswith(f"{_stem(port)}.py")]
            if errors:
                pytest.fail(f"the DAG file of {_stem(port)} did not load:\n{errors[0]['stack_trace']}")
            if time.monotonic() > deadline:
                pytest.fail(f"{sorted(wanted)} not parsed after {PARSE_TIMEOUT} s")
            time.sleep(1)


@pytest.fixture
def remote_notebook(deployment, tmp_path, monkeypatch):
    """`remote_notebook(port)`: once the port's DAG file is parsed, a notebook's working folder whose
    config.json names the deployment; returns the blob datastore's folder."""
    airflow, store = deployment

    def prepare(port: ModuleType) -> Path:
        _wait_published(airflow, port)
        _notebook_folder(airflow, store, tmp_path, monkeypatch)
        return store

    return prepare


def _notebook_folder(airflow, store: Path, tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "notebook"
    folder.mkdir()
    monkeypatch.chdir(folder)
    config = {
        "subscription_id": "none",
        "resource_group": "notebook-ports",
        "workspace_name": "deployment",
        "airflow_url": airflow.url,
        "username": "admin",
    }
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("MLPIPE_AIRFLOW_PASSWORD", "admin")
    monkeypatch.delenv("MLPIPE_AIRFLOW_TOKEN", raising=False)
    # What the notebook uploads and downloads is on the deployment's datastores.
    monkeypatch.setenv("AIRFLOW__MLPIPE__EMBEDDED_ROOT", airflow.env["AIRFLOW__MLPIPE__EMBEDDED_ROOT"])
    monkeypatch.setenv(f"AIRFLOW_CONN_{BLOB_STORE.upper()}", json.dumps(_folder_connection(store)))


@pytest.mark.deployment
def test_getting_started_on_the_deployment(remote_notebook):
    store = remote_notebook(getting_started)
    parallel_run, chained_run = getting_started.notebook_on_deployment()
    assert (store / "titanic" / "Titanic.csv").read_text() == getting_started.PASSENGERS
    _check_getting_started(parallel_run, chained_run)


@pytest.mark.deployment
def test_data_dependency_on_the_deployment(remote_notebook):
    _put_titanic(remote_notebook(data_dependency))
    _check_data_dependency(data_dependency.notebook_on_deployment())


@pytest.mark.deployment
def test_publish_rest_on_the_deployment(remote_notebook):
    _put_headlines(remote_notebook(publish_rest))
    ws, run, published, run_id = publish_rest.notebook_on_deployment()
    _compared(run, 10)
    assert published.id == "My_New_Pipeline"
    assert published.endpoint.endswith("/mlpipe/pipelines/My_New_Pipeline/submit")
    posted = PipelineRun.get(ws, run_id)
    _compared(posted, 45)
    assert posted.get_details()["ExperimentName"] == "My_Pipeline1"


@pytest.mark.deployment
@pytest.mark.xfail(
    strict=True,
    reason=(
        "known gaps: PipelineEndpoint.endpoint is not v1's URL shape (.../PipelineEndpointSubmit/Id/<id>, "
        "to which the notebook appends a version or swaps in Name?name=), and the notebook's "
        "ParameterAssignments name parameters its pipeline does not have, which the REST API refuses (400)"
    ),
)
def test_endpoints_on_the_deployment(remote_notebook):
    remote_notebook(endpoints)
    ws, made, published, renamed, posted, *runs = endpoints.notebook_on_deployment()
    _check_endpoint(made, published, renamed, runs)
    posted_run = PipelineRun.get(ws, posted)
    _finished(posted_run)
    assert posted_run.pipeline_id == renamed.pipeline_version_list[0].pipeline_id


@pytest.mark.deployment
def test_schedule_on_the_deployment(remote_notebook):
    remote_notebook(schedule)
    _check_schedules(schedule.notebook_on_deployment())


@pytest.mark.deployment
def test_datapath_on_the_deployment(remote_notebook):
    remote_notebook(datapath)
    _put_sample_folders()
    found = datapath.notebook_on_deployment()
    _check_datapath(found)
    _shows(found["posted"], 3, "c")
