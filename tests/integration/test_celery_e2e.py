"""A distributed run for real: CeleryExecutor with two workers on Redis and PostgreSQL, data on Azurite.

A 20-step fan-out/fan-in pipeline runs across both workers, a second run reuses every step through
the reuse index on the Blob datastore, a deferrable Databricks step (stand-in) waits on the
triggerer, and a worker killed in the middle of a step gets that step retried on the other worker
without any of the killed try's files.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services.airflow_deployment import AirflowDeployment
from tests.services.azurite import AzuriteServer, blob_connection
from tests.services.databricks_standin import DatabricksStandIn

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

BLOB_CONN = "celery_blob"
DATABRICKS_CONN = "celery_databricks"
CONTAINER = "celery-e2e"
FANOUT = "celery_fanout"
DATABRICKS = "celery_databricks_deferred"
KILLED = "celery_worker_killed"
SHARDS = 18
ROWS_PER_SHARD = 10
RUN_TIMEOUT = 240.0

FANOUT_DAG = """
# An Airflow DAG file: split -> {shards} parallel steps -> merge, every output on the Blob datastore.

from airflow_provider_mlpipe import DataReference, Datastore, Pipeline, PipelineData, PythonScriptStep

store = Datastore("{conn}")
numbers = DataReference(store, "numbers", "inputs/numbers.csv", mode="download")
shards = PipelineData("shards", datastore=store)
split = PythonScriptStep(
    name="split", script_name="split.py", source_directory="{name}_src",
    arguments=["--numbers", numbers, "--shards", shards, "--count", {shards}, "--markers", "{markers}"],
    inputs=[numbers], outputs=[shards],
)
parts = []
squares = []
for index in range({shards}):
    part = PipelineData(f"part_{{index:02d}}", datastore=store)
    parts.append(part)
    squares.append(PythonScriptStep(
        name=f"square_{{index:02d}}", script_name="square.py", source_directory="{name}_src",
        arguments=["--shards", shards, "--index", index, "--part", part, "--markers", "{markers}"],
        inputs=[shards], outputs=[part],
    ))
total = PipelineData("total", datastore=store)
merge_arguments = ["--total", total, "--markers", "{markers}"]
for part in parts:
    merge_arguments += ["--part", part]
merge = PythonScriptStep(
    name="merge", script_name="merge.py", source_directory="{name}_src",
    arguments=merge_arguments, inputs=parts, outputs=[total],
)
dag = Pipeline(steps=[merge]).to_dag("{name}")
"""

MARK = """
def mark(markers, step):
    import os, uuid
    os.makedirs(markers, exist_ok=True)
    open(os.path.join(markers, f"{step}-{uuid.uuid4().hex}"), "w").close()
"""

SPLIT = (
    MARK
    + """
import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--numbers")
parser.add_argument("--shards")
parser.add_argument("--count", type=int)
parser.add_argument("--markers")
args = parser.parse_args()
mark(args.markers, "split")
rows = Path(args.numbers).read_text().split()
size = -(-len(rows) // args.count)
for index in range(args.count):
    (Path(args.shards) / f"shard_{index:02d}.txt").write_text("\\n".join(rows[index * size:(index + 1) * size]))
"""
)

SQUARE = (
    MARK
    + """
import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--shards")
parser.add_argument("--index", type=int)
parser.add_argument("--part")
parser.add_argument("--markers")
args = parser.parse_args()
mark(args.markers, f"square_{args.index:02d}")
values = [int(v) for v in (Path(args.shards) / f"shard_{args.index:02d}.txt").read_text().split()]
(Path(args.part) / "sum_of_squares.txt").write_text(str(sum(v * v for v in values)))
"""
)

MERGE = (
    MARK
    + """
import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--total")
parser.add_argument("--part", action="append")
parser.add_argument("--markers")
args = parser.parse_args()
mark(args.markers, "merge")
total = sum(int((Path(p) / "sum_of_squares.txt").read_text()) for p in args.part)
(Path(args.total) / "total.txt").write_text(f"{len(args.part)} {total}")
"""
)

DATABRICKS_DAG = """
# An Airflow DAG file: one deferrable DatabricksStep, waited for by the triggerer.

from airflow_provider_mlpipe import DatabricksStep, Pipeline

remote = DatabricksStep(
    name="remote", notebook_path="/Shared/celery_e2e", notebook_params={{"rows": 3}},
    existing_cluster_id="cluster-1", compute_target="{conn}",
)
dag = Pipeline(steps=[remote]).to_dag(
    "{name}", default_args={{"deferrable": True, "poll_interval": 0.5}}
)
"""

KILLED_DAG = """
# An Airflow DAG file: a slow step (killed with its worker, then retried) and a step reading its output.

from datetime import timedelta

from airflow_provider_mlpipe import Datastore, Pipeline, PipelineData, PythonScriptStep

store = Datastore("{conn}")
result = PipelineData("result", datastore=store)
checked = PipelineData("checked", datastore=store)
slow = PythonScriptStep(
    name="slow", script_name="slow.py", source_directory="{name}_src",
    arguments=["--out", result, "--markers", "{markers}"], outputs=[result],
)
check = PythonScriptStep(
    name="check", script_name="check.py", source_directory="{name}_src",
    arguments=["--result", result, "--out", checked], inputs=[result], outputs=[checked],
)
dag = Pipeline(steps=[check]).to_dag(
    "{name}", default_args={{"retries": 1, "retry_delay": timedelta(seconds=1)}}
)
"""

SLOW = """
import argparse
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--out")
parser.add_argument("--markers")
args = parser.parse_args()
markers = Path(args.markers)
markers.mkdir(parents=True, exist_ok=True)
attempt = len(list(markers.glob("slow-attempt-*"))) + 1
(markers / f"slow-attempt-{attempt}").touch()
out = Path(args.out)
(out / f"attempt-{attempt}.txt").write_text("half of the output\\n")
if attempt == 1:
    (markers / "slow-waiting").touch()
    time.sleep(600)  # the test kills this worker now
(out / "result.txt").write_text(f"complete from attempt {attempt}\\n")
"""

CHECK = """
import argparse
import json
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--result")
parser.add_argument("--out")
args = parser.parse_args()
files = sorted(p.name for p in Path(args.result).iterdir())
(Path(args.out) / "seen.json").write_text(json.dumps(files))
"""


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def blob_store(celery_deployment: AirflowDeployment, azurite: AzuriteServer) -> Any:
    """The container behind the `celery_blob` connection (created through the REST API)."""
    container = azurite.service_client().get_container_client(CONTAINER)
    if not container.exists():
        container.create_container()
    put_connection(celery_deployment, BLOB_CONN, blob_connection(azurite, CONTAINER))
    return container


@pytest.fixture(scope="module")
def markers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every script drops a file into each time it really runs (all workers share it)."""
    return tmp_path_factory.mktemp("celery-markers")


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabricksStandIn]:
    """The Databricks stand-in on 127.0.0.1: the workers and the triggerer reach it over HTTP."""
    with DatabricksStandIn(dbfs_root=tmp_path_factory.mktemp("dbfs"), simulated_seconds=2.0) as server:
        yield server


def put_connection(deployment: AirflowDeployment, conn_id: str, connection: dict[str, Any]) -> None:
    """Create (or replace) a connection through the REST API: every component sees it without a restart."""
    body = {"connection_id": conn_id, "conn_type": connection["conn_type"]}
    for field in ("host", "login", "password"):
        if field in connection:
            body[field] = connection[field]
    if "extra" in connection:
        body["extra"] = json.dumps(connection["extra"])
    with deployment.client() as client:
        client.delete(f"/api/v2/connections/{conn_id}")
        response = client.post("/api/v2/connections", json=body)
    assert response.status_code in (200, 201), response.text


def task_instances(deployment: AirflowDeployment, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    with deployment.client() as client:
        response = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        response.raise_for_status()
    return {ti["task_id"]: ti for ti in response.json()["task_instances"]}


def tries(deployment: AirflowDeployment, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
    with deployment.client() as client:
        response = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
        response.raise_for_status()
    return sorted(response.json()["task_instances"], key=lambda t: t["try_number"])


def run_to_end(deployment: AirflowDeployment, dag_id: str, conf: dict[str, Any] | None = None) -> dict:
    run = deployment.trigger(dag_id, conf)
    finished = deployment.wait_for_run(dag_id, run["dag_run_id"], timeout=RUN_TIMEOUT)
    if finished["state"] != "success":
        states = deployment.task_states(dag_id, run["dag_run_id"])
        failed = [task for task, state in states.items() if state != "success"]
        logs = "\n".join(deployment.task_log(dag_id, run["dag_run_id"], task)[-3000:] for task in failed[:3])
        pytest.fail(f"run {run['dag_run_id']} ended {finished['state']}: {states}\n{logs}")
    return finished


def executions(markers: Path, prefix: str = "") -> list[str]:
    """The steps whose script really ran, one entry per run."""
    return sorted(p.name.rsplit("-", 1)[0] for p in markers.glob(f"{prefix}*") if "-" in p.name)


def script_workdir(deployment: AirflowDeployment, worker: str, script: str) -> Path:
    """The private folder of the task try running `script` on `worker` (the script runs in <it>/code)."""
    import psutil

    found = []
    for process in deployment.process_tree(worker):
        try:
            cmdline = process.cmdline()
            if any(part.endswith("/runtime/guard.py") for part in cmdline):
                continue  # the script's guardian names the script too, after "--"
            if any(part.endswith(f"/{script}") for part in cmdline):
                found.append(Path(process.cwd()).parent)
        except psutil.Error:  # a process that ended meanwhile
            continue
    assert len(found) == 1, f"{script} should run once on {worker}, found {found}"
    return found[0]


def blob_text(container: Any, path: str) -> str:
    return container.download_blob(path).readall().decode()


def wait_until(condition: Any, what: str, deployment: AirflowDeployment, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}\n{deployment.describe_logs(['scheduler', *deployment.workers])}")
        time.sleep(0.5)


# ---------------------------------------------------------------- tests (the worker kill is last)


@pytest.fixture(scope="module")
def databricks_run(celery_deployment: AirflowDeployment, standin: DatabricksStandIn) -> str:
    """The run id of the deferrable Databricks DAG, triggered (not awaited) before the pipeline runs.

    It waits on the triggerer while the pipeline's steps run, which saves the module a minute.
    """
    put_connection(
        celery_deployment,
        DATABRICKS_CONN,
        {"conn_type": "databricks", "host": standin.url, "password": standin.token},
    )
    celery_deployment.write_dag(DATABRICKS, DATABRICKS_DAG.format(name=DATABRICKS, conn=DATABRICKS_CONN))
    celery_deployment.wait_for_dag(DATABRICKS, timeout=120)
    return celery_deployment.trigger(DATABRICKS)["dag_run_id"]


@pytest.fixture(scope="module")
def fanout(
    celery_deployment: AirflowDeployment, blob_store: Any, markers: Path, databricks_run: str
) -> dict[str, Any]:
    """The fan-out/fan-in DAG, its input numbers on the Blob datastore, and its first run."""
    numbers = [random.randint(-1000, 1000) for _ in range(SHARDS * ROWS_PER_SHARD)]
    blob_store.upload_blob("inputs/numbers.csv", "\n".join(map(str, numbers)).encode(), overwrite=True)
    code = FANOUT_DAG.format(name=FANOUT, conn=BLOB_CONN, shards=SHARDS, markers=markers / FANOUT)
    celery_deployment.write_dag(FANOUT, code, {"split.py": SPLIT, "square.py": SQUARE, "merge.py": MERGE})
    celery_deployment.wait_for_dag(FANOUT, timeout=120)
    started = time.monotonic()
    run = run_to_end(celery_deployment, FANOUT)
    print(f"first fan-out run: {time.monotonic() - started:.1f} s")  # noqa: T201 - shown with -s
    return {"numbers": numbers, "run": run}


def test_the_pipeline_runs_across_both_workers_with_its_data_on_blob(
    celery_deployment: AirflowDeployment, blob_store: Any, fanout: dict[str, Any], markers: Path
) -> None:
    run_id = fanout["run"]["dag_run_id"]
    instances = task_instances(celery_deployment, FANOUT, run_id)
    steps = {"split", "merge", *(f"square_{i:02d}" for i in range(SHARDS))}
    assert set(instances) == steps and len(steps) == 20
    assert {ti["state"] for ti in instances.values()} == {"success"}

    hosts = {ti["hostname"] for ti in instances.values()}
    workers = {celery_deployment.worker_hostname(w) for w in celery_deployment.workers}
    assert hosts == workers, f"steps ran on {hosts}, expected both workers {workers}"

    total = celery_deployment.xcom(FANOUT, run_id, "merge")["total"]
    assert total["datastore"] == BLOB_CONN and total["datastore_kind"] == "blob"
    expected = sum(n * n for n in fanout["numbers"])
    assert blob_text(blob_store, f"{total['path_on_datastore']}/total.txt") == f"{SHARDS} {expected}"
    part = celery_deployment.xcom(FANOUT, run_id, "square_04")["part_04"]
    shard = fanout["numbers"][4 * ROWS_PER_SHARD : 5 * ROWS_PER_SHARD]
    assert blob_text(blob_store, f"{part['path_on_datastore']}/sum_of_squares.txt") == str(
        sum(n * n for n in shard)
    )
    assert executions(markers / FANOUT) == sorted(steps), "each step ran exactly once"


def test_a_second_run_reuses_every_step_through_the_shared_index(
    celery_deployment: AirflowDeployment, blob_store: Any, fanout: dict[str, Any], markers: Path
) -> None:
    before = executions(markers / FANOUT)
    first_id = fanout["run"]["dag_run_id"]
    second_id = run_to_end(celery_deployment, FANOUT)["dag_run_id"]

    assert executions(markers / FANOUT) == before, "no script ran again"
    instances = task_instances(celery_deployment, FANOUT, second_id)
    assert len(instances) == 20
    for task_id in instances:
        decision = celery_deployment.xcom(FANOUT, second_id, task_id, key="mlpipe_reuse")
        assert decision["decision"] == "hit", (task_id, decision)
        assert decision["source"]["run_id"] == first_id, (task_id, decision)
    reused = celery_deployment.xcom(FANOUT, second_id, "merge")["total"]
    assert reused["reused_from"]["run_id"] == first_id
    expected = sum(n * n for n in fanout["numbers"])
    assert blob_text(blob_store, f"{reused['path_on_datastore']}/total.txt") == f"{SHARDS} {expected}"
    entries = list(blob_store.list_blobs(name_starts_with="mlpipe/_reuse/"))
    assert len(entries) >= 20, "the reuse index lives on the Blob datastore every worker shares"


def test_a_deferrable_databricks_step_waits_on_the_triggerer(
    celery_deployment: AirflowDeployment, standin: DatabricksStandIn, databricks_run: str
) -> None:
    run_id = databricks_run
    run_to_end_of = celery_deployment.wait_for_run(DATABRICKS, run_id, timeout=RUN_TIMEOUT)
    assert run_to_end_of["state"] == "success", celery_deployment.task_log(DATABRICKS, run_id, "remote")

    [submit] = [body for method, path, body in standin.requests if path.endswith("/jobs/runs/submit")]
    assert submit["tasks"][0]["notebook_task"]["base_parameters"] == {"rows": "3"}
    run = standin.runs[celery_deployment.xcom(DATABRICKS, run_id, "remote", key="databricks_run_id")]
    assert run.state["result_state"] == "SUCCESS"
    [only_try] = tries(celery_deployment, DATABRICKS, run_id, "remote")
    assert only_try["state"] == "success" and only_try["hostname"].startswith("worker")
    log = celery_deployment.task_log(DATABRICKS, run_id, "remote")
    # The worker deferred the task; the triggerer's log of the trigger (served with the task log) saw the end.
    assert "Pausing task as DEFERRED" in log, log[-3000:]
    assert "Trigger fired event" in log and "'result_state': 'SUCCESS'" in log, log[-3000:]
    assert celery_deployment.xcom(DATABRICKS, run_id, "remote", key="mlpipe_reuse")["decision"] == "miss"


def test_a_killed_worker_s_step_is_retried_on_the_other_worker_with_none_of_its_files(
    celery_deployment: AirflowDeployment, blob_store: Any, markers: Path
) -> None:
    folder = markers / KILLED
    celery_deployment.write_dag(
        KILLED,
        KILLED_DAG.format(name=KILLED, conn=BLOB_CONN, markers=folder),
        {"slow.py": SLOW, "check.py": CHECK},
    )
    celery_deployment.wait_for_dag(KILLED, timeout=120)
    run_id = celery_deployment.trigger(KILLED)["dag_run_id"]
    wait_until(lambda: (folder / "slow-waiting").exists(), "the slow step never started", celery_deployment)
    hostname = task_instances(celery_deployment, KILLED, run_id)["slow"]["hostname"]
    [victim] = [w for w in celery_deployment.workers if celery_deployment.worker_hostname(w) == hostname]
    [survivor] = [w for w in celery_deployment.workers if w != victim]
    workdir = script_workdir(celery_deployment, victim, "slow.py")
    half_written = sorted(p.name for p in (workdir / "outputs" / "result").iterdir())
    assert half_written == ["attempt-1.txt"], "the killed try wrote part of its output"
    try:
        celery_deployment.kill(victim)
        finished = celery_deployment.wait_for_run(KILLED, run_id, timeout=RUN_TIMEOUT)
    finally:
        celery_deployment.restart(victim)  # for whatever runs after this module
        shutil.rmtree(workdir, ignore_errors=True)  # a dead machine's leftovers
    assert finished["state"] == "success", celery_deployment.task_states(KILLED, run_id)

    first, second = tries(celery_deployment, KILLED, run_id, "slow")
    assert (first["try_number"], first["hostname"], first["state"]) == (1, hostname, "failed")
    survivor_host = celery_deployment.worker_hostname(survivor)
    assert (second["try_number"], second["hostname"], second["state"]) == (2, survivor_host, "success")
    assert sorted(p.name for p in folder.glob("slow-attempt-*")) == ["slow-attempt-1", "slow-attempt-2"]

    result = celery_deployment.xcom(KILLED, run_id, "slow")["result"]
    names = sorted(
        b.name.removeprefix(result["path_on_datastore"] + "/")
        for b in blob_store.list_blobs(name_starts_with=result["path_on_datastore"] + "/")
    )
    assert names == ["attempt-2.txt", "result.txt"], "nothing of the killed try was published"
    assert blob_text(blob_store, f"{result['path_on_datastore']}/result.txt") == "complete from attempt 2\n"
    checked = celery_deployment.xcom(KILLED, run_id, "check")["checked"]
    assert json.loads(blob_text(blob_store, f"{checked['path_on_datastore']}/seen.json")) == names

    entries = [
        json.loads(blob_text(blob_store, b.name))
        for b in blob_store.list_blobs(name_starts_with="mlpipe/_reuse/")
    ]
    slow_entries = [
        e for e in entries if e["source"]["dag_id"] == KILLED and e["source"]["task_id"] == "slow"
    ]
    assert [e["source"]["try_number"] for e in slow_entries] == [2], "only the successful try is recorded"
    assert slow_entries[0]["outputs"]["result"]["path_on_datastore"] == result["path_on_datastore"]
