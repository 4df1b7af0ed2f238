"""Stale and invalid reuse entries in real task runs, on a local folder and on Azurite.

A step whose recorded outputs are gone (or whose entry records unusable paths) runs again and
replaces the entry, so the next unchanged run is a HIT; two tasks replacing the same stale
entry at once both succeed and leave exactly one valid entry.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from tests.integration.dagruns import run_dag, task_states, tasks_tested_at_once, write_project
from tests.services.azurite import airflow_conn_env, blob_connection

pytestmark = pytest.mark.integration

STEP = """
    import os, sys, time
    with open(os.environ["MLPIPE_TEST_MARKERS"] + "/{dag}.log", "a") as log:
        log.write("ran\\n")
    time.sleep(float(os.environ.get("MLPIPE_TEST_SLEEP") or 0))
    os.makedirs(sys.argv[2], exist_ok=True)
    open(os.path.join(sys.argv[2], "data.txt"), "w").write(open(sys.argv[1]).read() + " trained")
"""

DAG = """
    from airflow_provider_mlpipe import DataReference, Datastore, Pipeline, PipelineData, PythonScriptStep
    store = Datastore({conn!r})
    raw = DataReference(store, "raw", "{dag}/raw.txt")
    out = PipelineData("out", datastore=store)
    train = PythonScriptStep("step.py", name="train", arguments=[raw, out], inputs=[raw], outputs=[out], source_directory="{dag}_src")
    dag = Pipeline([train]).to_dag({dag!r})
"""


class OneStep:
    """A one-step pipeline on datastore `conn_id`, the count of its script's runs and its index."""

    def __init__(self, dag_id: str, conn_id: str, markers: Path) -> None:
        from airflow_provider_mlpipe import Datastore

        self.dag_id = dag_id
        self.markers = markers / f"{dag_id}.log"
        self.store = Datastore(conn_id).client()
        self.dag_file = write_project(
            dag_id, DAG.format(dag=dag_id, conn=conn_id), {"step.py": STEP.format(dag=dag_id)}
        )
        raw = markers / f"{dag_id}-raw.txt"
        raw.write_text("raw data")
        self.store.upload_file(raw, f"{dag_id}/raw.txt", overwrite=True)

    def runs(self) -> int:
        return len(self.markers.read_text().splitlines()) if self.markers.exists() else 0

    def run(self) -> tuple[str, bool]:
        """Run the DAG; (the task's state, whether the script ran)."""
        before = self.runs()
        dag_run = run_dag(self.dag_file, self.dag_id)
        return task_states(dag_run)["train"], self.runs() > before

    def entry(self) -> dict:
        from airflow_provider_mlpipe.hooks.reuse_cache import ReuseCacheHook

        [entry] = list(ReuseCacheHook(self.store.name).list_entries())
        return entry

    def rewrite_entry(self, change) -> None:  # noqa: ANN001 - a function that edits the entry in place
        from airflow_provider_mlpipe.hooks.reuse_cache import ReuseCacheHook

        entry = self.entry()
        change(entry)
        path = ReuseCacheHook.entry_path(entry["key"])
        self.store.delete(path)
        assert self.store.create_only(path, json.dumps(entry).encode())


@pytest.fixture(params=["local", "blob"])
def kind(request, tmp_path, monkeypatch) -> str:
    """Datastore `stale_store`: a local folder or a fresh container on Azurite."""
    if request.param == "local":
        connection = {"conn_type": "mlpipe_local", "extra": {"root": str(tmp_path / "store")}}
    else:
        connection = blob_connection(request.getfixturevalue("azurite"), f"st{uuid.uuid4().hex[:12]}")
    for name, value in airflow_conn_env("stale_store", connection).items():
        monkeypatch.setenv(name, value)
    return request.param


def test_a_step_whose_outputs_are_gone_replaces_its_entry_and_the_next_run_is_a_hit(kind, markers, capfd):
    pipeline = OneStep(f"stale_{kind}", "stale_store", markers)
    assert pipeline.run() == ("success", True)
    pipeline.store.delete(pipeline.entry()["outputs"]["out"]["path_on_datastore"])

    assert pipeline.run() == ("success", True)
    log = capfd.readouterr().out
    assert "Reuse: MISS (recorded outputs missing: out)" in log
    assert "Reuse: replaced the stale entry" in log and "kept it" not in log
    assert pipeline.store.exists(pipeline.entry()["outputs"]["out"]["path_on_datastore"])

    assert pipeline.run() == ("success", False), "the unchanged run after the replacement is a HIT"
    assert "Reuse: HIT, step 'train' not run" in capfd.readouterr().out


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../../outside/out", "path '../../outside/out' leaves the datastore"),
        ("/etc/out", "path '/etc/out' is absolute"),
    ],
)
def test_an_entry_recording_an_invalid_path_is_a_miss_not_a_failure(kind, markers, capfd, path, problem):
    pipeline = OneStep(f"invalid_{kind}", "stale_store", markers)
    assert pipeline.run() == ("success", True)
    pipeline.rewrite_entry(lambda entry: entry["outputs"]["out"].update(path_on_datastore=path))

    assert pipeline.run() == ("success", True)
    assert f"Reuse: MISS (recorded outputs invalid: out: {problem})" in capfd.readouterr().out
    assert pipeline.run() == ("success", False)


def test_two_tasks_replacing_the_same_stale_entry_both_succeed_and_leave_one_valid_entry(
    kind, markers, capfd
):
    pipeline = OneStep(f"stale_race_{kind}", "stale_store", markers)
    assert pipeline.run() == ("success", True)
    stale = pipeline.entry()
    pipeline.store.delete(stale["outputs"]["out"]["path_on_datastore"])

    env = dict(os.environ, MLPIPE_TEST_SLEEP="3")
    logs = tasks_tested_at_once(pipeline.dag_id, "train", env, timeout=300)
    for log in logs:
        assert "Reuse: MISS (recorded outputs missing: out)" in log, log[-3000:]
    assert pipeline.runs() == 3, "both tasks ran the script"
    replaced = ["Reuse: replaced the stale entry" in log for log in logs]
    kept = ["was already recorded by another run; kept it" in log for log in logs]
    assert sorted(replaced) == [False, True] and sorted(kept) == [False, True]

    entry = pipeline.entry()
    assert entry["source"]["run_id"] != stale["source"]["run_id"]
    assert pipeline.store.exists(entry["outputs"]["out"]["path_on_datastore"])
    capfd.readouterr()
    assert pipeline.run() == ("success", False), "the next unchanged run is a HIT"


def test_a_deferred_remote_step_replaces_its_stale_entry(databricks_default, monkeypatch):
    """The stale version crosses the deferral (XCom) to the resumed task, which replaces the entry."""
    from tests.integration.dagruns import xcom_value
    from tests.integration.test_databricks import EXAMPLE_ID, example_file, submits

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    conf = {"scale": 7.0}
    first = run_dag(example_file(), EXAMPLE_ID, conf=conf)
    assert task_states(first)["featurize"] == "success"
    from airflow_provider_mlpipe import Datastore

    features = xcom_value(first, "featurize")["features"]
    Datastore(features["datastore"]).client().delete(features["path_on_datastore"])

    second = run_dag(example_file(), EXAMPLE_ID, conf=conf)
    decision = xcom_value(second, "featurize", key="mlpipe_reuse")
    assert decision["reason"] == "recorded outputs missing: features" and decision["replaced"] is True
    count = len(submits(databricks_default))
    third = run_dag(example_file(), EXAMPLE_ID, conf=conf)
    assert xcom_value(third, "featurize", key="mlpipe_reuse")["decision"] == "hit"
    assert len(submits(databricks_default)) == count
