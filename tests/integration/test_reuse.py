"""Reuse for real: dag.test() runs on a local folder and on Azurite, counting script executions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import DAGS_FOLDER
from tests.integration.dagruns import run_dag, task_states, tasks_tested_at_once, write_project, xcom_value
from tests.services.azurite import airflow_conn_env, blob_connection

pytestmark = pytest.mark.integration

STEP = """
    import os, sys, time
    VERSION = "1"
    name, source, target = sys.argv[1], sys.argv[2], sys.argv[3]
    extra = sys.argv[4:]
    with open(os.path.join(os.environ["MLPIPE_TEST_MARKERS"], "{dag}.log"), "a") as log:
        log.write(name + "\\n")
    if os.environ.get("MLPIPE_TEST_SLEEP"):
        time.sleep(float(os.environ["MLPIPE_TEST_SLEEP"]))
    data = open(os.path.join(source, "data.txt") if os.path.isdir(source) else source).read()
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "data.txt"), "w") as out:
        out.write(data + f"|{{name}} v{{VERSION}} {{' '.join(extra)}}")
"""

DAG = """
    from airflow_provider_mlpipe import (
        DataReference, Datastore, Pipeline, PipelineData, PipelineParameter, PythonScriptStep,
    )
    store = Datastore({conn!r})
    raw = DataReference(store, "raw", "{dag}/raw.txt")
    out_a, out_b, out_c = PipelineData("out_a"), PipelineData("out_b"), PipelineData("out_c")
    scale = PipelineParameter("scale", 1)
    a = PythonScriptStep("step.py", name="a", arguments=["a", raw, out_a], inputs=[raw], outputs=[out_a], source_directory="{dag}_src/a")
    b = PythonScriptStep("step.py", name="b", arguments=["b", out_a, out_b], inputs=[out_a], outputs=[out_b], source_directory="{dag}_src/b")
    c = PythonScriptStep("step.py", name="c", arguments=["c", out_b, out_c, "--scale", scale], inputs=[out_b], outputs=[out_c], source_directory="{dag}_src/c")
    d = PythonScriptStep("step.py", name="d", arguments=["d", raw, "/tmp/unused"], inputs=[raw], source_directory="{dag}_src/d", allow_reuse=False)
    dag = Pipeline([a, b, c, d], default_datastore=store).to_dag({dag!r})
"""


class Scenario:
    """A four-step pipeline (a -> b -> c, and d with allow_reuse=False) and its execution log."""

    def __init__(self, dag_id: str, conn_id: str, markers: Path) -> None:
        from airflow_provider_mlpipe import Datastore

        self.dag_id = dag_id
        self.markers = markers / f"{dag_id}.log"
        self.store = Datastore(conn_id).client()
        scripts = {f"{step}/step.py": STEP.format(dag=dag_id) for step in "abcd"}
        self.dag_file = write_project(dag_id, DAG.format(dag=dag_id, conn=conn_id), scripts)
        self.set_raw("first raw data")

    def set_raw(self, text: str) -> None:
        local = self.markers.parent / f"{self.dag_id}-raw.txt"
        local.write_text(text)
        self.store.upload_file(local, f"{self.dag_id}/raw.txt", overwrite=True)

    def edit_script(self, step: str, old: str, new: str) -> None:
        script = DAGS_FOLDER / f"{self.dag_id}_src" / step / "step.py"
        script.write_text(script.read_text().replace(old, new))

    def run(self, conf: dict | None = None) -> tuple[object, list[str]]:
        before = self.markers.read_text().splitlines() if self.markers.exists() else []
        dag_run = run_dag(self.dag_file, self.dag_id, conf=conf)
        after = self.markers.read_text().splitlines() if self.markers.exists() else []
        return dag_run, sorted(after[len(before) :])

    def entries(self) -> list[dict]:
        from airflow_provider_mlpipe.hooks.reuse_cache import ReuseCacheHook

        return list(ReuseCacheHook(self.store.name).list_entries())


@pytest.fixture(params=["local", "blob"])
def scenario(request, tmp_path, markers, monkeypatch) -> Scenario:
    if request.param == "local":
        connection = {"conn_type": "mlpipe_local", "extra": {"root": str(tmp_path / "store")}}
    else:
        connection = blob_connection(request.getfixturevalue("azurite"), "reuse", auth="connection_string")
    for name, value in airflow_conn_env("reuse_store", connection).items():
        monkeypatch.setenv(name, value)
    return Scenario(f"reuse_{request.param}", "reuse_store", markers)


def test_reuse_reruns_exactly_what_changed(scenario, capfd):
    first, ran = scenario.run()
    assert str(first.state) == "success" and ran == ["a", "b", "c", "d"]
    assert len(scenario.entries()) == 3  # d has allow_reuse=False: never recorded

    second, ran = scenario.run()
    assert ran == ["d"], "an unchanged pipeline runs no reusable script"
    assert task_states(second) == {t: "success" for t in "abcd"}
    reused = xcom_value(second, "b")["out_b"]
    fresh = xcom_value(first, "b")["out_b"]
    assert reused["path_on_datastore"] == fresh["path_on_datastore"]
    assert reused["reused_from"]["run_id"] == first.run_id
    decision = xcom_value(second, "b", key="mlpipe_reuse")
    assert decision["decision"] == "hit" and decision["source"]["run_id"] == first.run_id
    link = xcom_value(second, "b", key="_link_ReusedFromLink")
    assert f"/dags/{scenario.dag_id}/runs/" in link and link.endswith("/tasks/b")
    log = capfd.readouterr().out
    assert "Reuse: MISS (no entry)" in log and "Reuse: HIT, step 'b' not run" in log
    assert "Reuse: MISS (allow_reuse=False)" in log
    assert "  source: " in log and "  input out_a: " in log and "  arguments: " in log

    scenario.edit_script("c", 'VERSION = "1"', 'VERSION = "1"  # a comment changes the source')
    assert scenario.run()[1] == ["c", "d"], "a changed script re-runs its own step only"

    scenario.edit_script("a", 'VERSION = "1"', 'VERSION = "2"')
    assert scenario.run()[1] == ["a", "b", "c", "d"], "a changed output re-runs every step downstream"

    scenario.set_raw("second raw data")
    assert scenario.run()[1] == ["a", "b", "c", "d"], "changed input data re-runs its readers"

    scaled, ran = scenario.run({"scale": 2})
    assert ran == ["c", "d"], "a changed parameter re-runs the steps that use it"
    assert scenario.run({"scale": 2})[1] == ["d"]

    assert scenario.run({"regenerate_outputs": True})[1] == ["a", "b", "c", "d"]

    latest = scenario.run()[0]
    scenario.store.delete(xcom_value(latest, "b")["out_b"]["path_on_datastore"])
    deleted_run, ran = scenario.run()
    assert ran == ["b", "d"], "a deleted output forces its step to run; identical content keeps c reused"
    assert "Reuse: MISS (recorded outputs missing: out_b)" in capfd.readouterr().out
    assert "reused_from" in xcom_value(deleted_run, "c")["out_c"]

    entries = len(scenario.entries())
    scenario.edit_script("b", "os.makedirs(target, exist_ok=True)", "sys.exit(7)")
    failed, ran = scenario.run()
    assert ran == ["b", "d"] and task_states(failed)["b"] == "failed"
    assert len(scenario.entries()) == entries, "a failing step leaves no entry"


def test_run_records_git_state_of_the_source_directory(markers, tmp_path, monkeypatch):
    monkeypatch.setenv("AZUREML_GIT_COMMIT", "0123abcd")
    monkeypatch.setenv("AZUREML_GIT_DIRTY", "true")
    scenario = Scenario("reuse_git", "mlpipe_default", markers)
    dag_run, _ran = scenario.run()
    record = xcom_value(dag_run, "a", key="mlpipe_reuse")
    assert (
        record["decision"] == "miss"
        and record["git"]["commit"] == "0123abcd"
        and record["git"]["dirty"] is True
    )
    entry = next(
        e
        for e in scenario.entries()
        if e["source"]["run_id"] == dag_run.run_id and e["source"]["task_id"] == "a"
    )
    assert entry["run"]["git"]["commit"] == "0123abcd"


def test_regenerate_outputs_as_a_to_dag_default(markers):
    scenario = Scenario("reuse_regen", "mlpipe_default", markers)
    scenario.dag_file.write_text(
        scenario.dag_file.read_text().replace(".to_dag(", ".to_dag(regenerate_outputs=True, dag_id=")
    )
    assert scenario.run()[1] == ["a", "b", "c", "d"]
    assert scenario.run()[1] == ["a", "b", "c", "d"]
    assert scenario.run({"regenerate_outputs": False})[1] == ["d"]


@pytest.mark.parametrize("kind", ["local", "blob"])
def test_two_simultaneous_runs_both_succeed_and_keep_one_entry(kind, request, tmp_path, markers):
    env = dict(os.environ, MLPIPE_TEST_SLEEP="3")
    if kind == "local":
        connection = {"conn_type": "mlpipe_local", "extra": {"root": str(tmp_path / "store")}}
    else:
        connection = blob_connection(
            request.getfixturevalue("azurite"), f"race{os.getpid()}", auth="connection_string"
        )
    env.update(airflow_conn_env("race_store", connection))
    os.environ.update(airflow_conn_env("race_store", connection))
    try:
        scenario = Scenario(f"race_{kind}", "race_store", markers)
        logs = tasks_tested_at_once(scenario.dag_id, "a", env, timeout=240)
        for log in logs:
            assert "Reuse: MISS (no entry)" in log, log[-3000:]
        assert scenario.markers.read_text().splitlines() == ["a", "a"], "both ran at the same time"
        recorded = ["Reuse: recorded entry" in log for log in logs]
        kept = ["was already recorded by another run; kept it" in log for log in logs]
        assert sorted(recorded) == [False, True] and sorted(kept) == [False, True]
        entries = scenario.entries()
        assert len(entries) == 1
        for name, record in entries[0]["outputs"].items():
            assert name == "out_a"
            assert scenario.store.exists(record["path_on_datastore"])
            text = json.dumps(scenario.store.list_files(record["path_on_datastore"]))
            assert "data.txt" in text
    finally:
        for key in airflow_conn_env("race_store", connection):
            os.environ.pop(key, None)
