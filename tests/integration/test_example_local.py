"""The example pipeline, run for real with dag.test() on the embedded local datastore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.dagruns import install_example, run_dag, task_states, xcom_value

pytestmark = pytest.mark.integration

DAG_ID = "mlpipe_compare_models"


@pytest.fixture(scope="module")
def example_dag_file() -> Path:
    import runpy

    from airflow_provider_mlpipe import Datastore
    from tests.conftest import REPO

    prepare = runpy.run_path(str(REPO / "dags" / "compare_models" / "prepare_data.py"))
    assert prepare["main"]() == 0
    assert Datastore.default().client().exists("compare_models/wine.csv")
    return install_example()


def _local(record: dict) -> Path:
    assert record["uri"].startswith("file://")
    return Path(record["uri"][len("file://") :])


def test_example_runs_end_to_end_and_records_outputs(example_dag_file, embedded_datastore_root):
    dag_run = run_dag(example_dag_file, DAG_ID)

    assert str(dag_run.state) == "success"
    assert task_states(dag_run) == {"train": "success", "extract": "success", "compare": "success"}

    train = xcom_value(dag_run, "train")
    assert set(train) == {"output_data1"}
    record = train["output_data1"]
    assert record["datastore"] == "mlpipe_default"
    assert record["datastore_kind"] == "local"
    assert record["is_directory"] is True
    assert record["producer"]["task_id"] == "train"
    assert record["path_on_datastore"].startswith(f"mlpipe/{DAG_ID}/")
    assert record["path_on_datastore"].endswith("/train/output_data1")
    models = _local(record)
    assert models.is_relative_to(embedded_datastore_root)
    assert sorted(p.name for p in models.iterdir()) == [
        "logistic_regression.pkl",
        "models.json",
        "random_forest.pkl",
        "test.csv",
    ]

    metrics = json.loads(
        (_local(xcom_value(dag_run, "extract")["output_data2"]) / "metrics.json").read_text()
    )
    assert set(metrics) == {"logistic_regression", "random_forest"}
    assert all(0.8 <= m["accuracy"] <= 1.0 for m in metrics.values())

    comparison = _local(xcom_value(dag_run, "compare")["out_data3"])
    report = json.loads((comparison / "report.json").read_text())
    assert report["bootstrap_rounds"] == 10  # pipeline_arg's default
    assert report["best_model"] in metrics
    assert (comparison / "best_model.pkl").stat().st_size > 0


def test_pipeline_arg_from_run_conf_reaches_the_compare_script(example_dag_file):
    dag_run = run_dag(example_dag_file, DAG_ID, conf={"pipeline_arg": 20})

    assert str(dag_run.state) == "success"
    report = json.loads((_local(xcom_value(dag_run, "compare")["out_data3"]) / "report.json").read_text())
    assert report["bootstrap_rounds"] == 20


def test_each_run_that_runs_writes_its_own_outputs(example_dag_file):
    regenerate = {"regenerate_outputs": True}
    first = xcom_value(run_dag(example_dag_file, DAG_ID, conf=regenerate), "train")["output_data1"]
    second = xcom_value(run_dag(example_dag_file, DAG_ID, conf=regenerate), "train")["output_data1"]
    assert first["path_on_datastore"] != second["path_on_datastore"]
    assert _local(first).is_dir() and _local(second).is_dir()
