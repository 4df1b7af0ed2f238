"""Metrics from step scripts, for real: dag.test() runs, XCom, metrics.json, reuse, another interpreter, client."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from airflow_provider_mlpipe.contract import METRICS_XCOM_KEY
from airflow_provider_mlpipe.run_context import METRICS_FILE_NAME
from tests.integration.dagruns import run_dag, task_states, write_project, xcom_value

pytestmark = pytest.mark.integration

DAG_ID = "step_metrics"

DAG = """
from airflow_provider_mlpipe import Pipeline, PipelineData, PythonScriptStep

model = PipelineData("model")
train = PythonScriptStep("train.py", name="train", arguments=[model], outputs=[model], source_directory="step_metrics_src")
elsewhere = PythonScriptStep(
    "elsewhere.py", name="elsewhere", source_directory="step_metrics_src", python_interpreter={interpreter!r}
)
quiet = PythonScriptStep("quiet.py", name="quiet", source_directory="step_metrics_src")
boom = PythonScriptStep("boom.py", name="boom", source_directory="step_metrics_src")
dag = Pipeline([train, elsewhere, quiet, boom]).to_dag("step_metrics")
"""

SCRIPTS = {
    "train.py": """
        import os, subprocess, sys
        from airflow_provider_mlpipe import Run

        run = Run.get_context()
        run.log("accuracy", 0.91, description="held-out accuracy")
        run.log("loss", 0.5)
        run.log("loss", 0.25)
        run.log_list("curve", [1, 2, 3])
        run.log_row("leaderboard", model="forest", score=0.91)
        run.log_row("leaderboard", model="logistic", score=0.88)
        # A child process logs to the same step (it inherits the environment).
        child = "from mlpipe_run_context import Run; Run.get_context().log('from_child', 1)"
        subprocess.run([sys.executable, "-c", child], check=True)
        os.makedirs(sys.argv[1], exist_ok=True)
        with open(os.path.join(sys.argv[1], "run_id.txt"), "w") as handle:
            handle.write(run.id)
    """,
    "elsewhere.py": """
        import importlib.util, sys
        if importlib.util.find_spec("airflow_provider_mlpipe") is not None:
            sys.exit("the provider is importable: this is not another interpreter")
        from mlpipe_run_context import Run
        Run.get_context().log("prefix", sys.prefix)
    """,
    "quiet.py": """
        print("logs no metric")
    """,
    "boom.py": """
        import sys
        from airflow_provider_mlpipe import Run
        Run.get_context().log("epochs_done", 3)
        sys.exit("diverged")
    """,
}

TRAIN_METRICS = {
    "accuracy": 0.91,
    "loss": [0.5, 0.25],
    "curve": [1, 2, 3],
    "leaderboard": {"model": ["forest", "logistic"], "score": [0.91, 0.88]},
    "from_child": 1,
}


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A bare virtualenv: an interpreter that cannot import the provider."""
    path = tmp_path_factory.mktemp("metrics-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def runs(venv):
    """Two runs of the pipeline: the second reuses every step that succeeded in the first."""
    scripts = {name: textwrap.dedent(text) for name, text in SCRIPTS.items()}
    dag_file = write_project(DAG_ID, DAG.format(interpreter=str(venv / "bin" / "python")), scripts)
    return run_dag(dag_file, DAG_ID), run_dag(dag_file, DAG_ID)


def stored_metrics(dag_run, task_id: str) -> dict | None:
    """`metrics.json` of a step task on the default datastore (None when there is none)."""
    from airflow_provider_mlpipe import Datastore
    from airflow_provider_mlpipe.runtime.step_data import output_path

    data = (
        Datastore.default()
        .client()
        .read_bytes(output_path(dag_run.dag_id, dag_run.run_id, task_id, METRICS_FILE_NAME))
    )
    return None if data is None else json.loads(data)


def test_a_step_pushes_and_stores_what_its_script_logged(runs, venv):
    first, _ = runs
    assert task_states(first) == {
        "train": "success",
        "elsewhere": "success",
        "quiet": "success",
        "boom": "failed",
    }

    assert xcom_value(first, "train", METRICS_XCOM_KEY) == TRAIN_METRICS
    assert stored_metrics(first, "train") == TRAIN_METRICS
    model = xcom_value(first, "train")["model"]["uri"].removeprefix("file://")
    with open(f"{model}/run_id.txt") as handle:
        assert handle.read() == f"{DAG_ID}/{first.run_id}/train"

    assert xcom_value(first, "elsewhere", METRICS_XCOM_KEY) == {"prefix": str(venv)}
    assert xcom_value(first, "quiet", METRICS_XCOM_KEY) == {}
    assert stored_metrics(first, "quiet") == {}


def test_a_failed_script_still_shows_its_metrics_but_records_no_reuse(runs):
    first, second = runs
    for dag_run in runs:
        assert task_states(dag_run)["boom"] == "failed"
        assert xcom_value(dag_run, "boom", METRICS_XCOM_KEY) == {"epochs_done": 3}
        assert stored_metrics(dag_run, "boom") == {"epochs_done": 3}
    assert xcom_value(first, "boom", "mlpipe_reuse") is None
    assert xcom_value(second, "boom", "mlpipe_reuse") is None


def test_a_reused_step_hands_on_the_original_metrics(runs, venv):
    first, second = runs
    from airflow_provider_mlpipe.hooks.reuse_cache import ReuseCacheHook

    for task_id, expected in (("train", TRAIN_METRICS), ("elsewhere", {"prefix": str(venv)}), ("quiet", {})):
        decision = xcom_value(second, task_id, "mlpipe_reuse")
        assert decision["decision"] == "hit" and decision["source"]["run_id"] == first.run_id
        assert xcom_value(second, task_id, METRICS_XCOM_KEY) == expected
        assert ReuseCacheHook().get_entry(decision["key"])["metrics"] == expected
    assert stored_metrics(second, "train") is None  # a reused step writes nothing; its XCom is enough


def test_client_get_metrics_reads_the_steps_metrics(runs):
    from airflow_provider_mlpipe import Experiment, PipelineRun

    first, second = runs
    for dag_run in runs:
        run = PipelineRun(Experiment(None, "metrics"), dag_run.run_id, pipeline_id=DAG_ID)
        [train] = run.find_step_run("train")
        assert train.get_metrics() == TRAIN_METRICS
        [quiet] = run.find_step_run("quiet")
        assert quiet.get_metrics() == {}


PUBLISHED = "mlpipe_metrics_published"

PUBLISHED_DAG = f"""
from airflow_provider_mlpipe import Pipeline, PythonScriptStep

score = PythonScriptStep("score.py", name="score", source_directory="{PUBLISHED}_src", allow_reuse=False)
dag = Pipeline([score]).publish("{PUBLISHED}")
"""

SCORE = """
from airflow_provider_mlpipe import Run
run = Run.get_context()
run.log("auc", 0.75)
run.log_row("confusion", actual="a", predicted="b", count=2)
"""


@pytest.mark.deployment
def test_remote_client_reads_metrics_over_the_rest_api(airflow_deployment, monkeypatch):
    from airflow_provider_mlpipe import Experiment, PublishedPipeline, Workspace

    airflow_deployment.write_dag(PUBLISHED, PUBLISHED_DAG, {"score.py": SCORE})
    airflow_deployment.wait_for_dag(PUBLISHED, timeout=180)
    monkeypatch.setenv(
        "AIRFLOW__MLPIPE__EMBEDDED_ROOT", airflow_deployment.env["AIRFLOW__MLPIPE__EMBEDDED_ROOT"]
    )
    workspace = Workspace.connect(airflow_deployment.url, username="admin", password="admin")
    try:
        published = PublishedPipeline.get(workspace, PUBLISHED)
        run = Experiment(workspace, "metrics_exp").submit(published)
        assert run.wait_for_completion(show_output=False, timeout_seconds=240) == "Finished"
        [score] = run.find_step_run("score")
        expected = {"auc": 0.75, "confusion": {"actual": ["a"], "predicted": ["b"], "count": [2]}}
        assert score.get_metrics() == expected
        assert airflow_deployment.xcom(PUBLISHED, run.id, "score", METRICS_XCOM_KEY) == expected
    finally:
        workspace.close()
