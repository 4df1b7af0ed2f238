"""The example pipeline on Azure Blob Storage (Azurite), through a `wasb` connection."""

from __future__ import annotations

import json
import runpy

import pytest

from tests.conftest import REPO
from tests.integration.dagruns import install_example, run_dag, task_states, xcom_value
from tests.services.azurite import airflow_conn_env, blob_connection

pytestmark = pytest.mark.integration

DAG_ID = "mlpipe_compare_models"


@pytest.fixture
def blob_default_datastore(azurite, monkeypatch):
    """Make a `wasb` connection to Azurite the pipeline's default datastore, with account-key auth."""
    connection = blob_connection(azurite, "pipelines", auth="account_key")
    for name, value in airflow_conn_env("mlpipe_blob", connection).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIRFLOW__MLPIPE__DEFAULT_DATASTORE", "mlpipe_blob")
    from airflow_provider_mlpipe import Datastore

    return Datastore("mlpipe_blob")


def test_example_runs_on_blob_storage(blob_default_datastore, tmp_path):
    prepare = runpy.run_path(str(REPO / "dags" / "compare_models" / "prepare_data.py"))
    assert prepare["main"]() == 0  # the default datastore is now the blob one
    client = blob_default_datastore.client()
    assert client.kind == "blob" and client.exists("compare_models/wine.csv")

    dag_run = run_dag(install_example(), DAG_ID, conf={"pipeline_arg": 20})

    assert task_states(dag_run) == {"train": "success", "extract": "success", "compare": "success"}
    models = xcom_value(dag_run, "train")["output_data1"]
    assert models["datastore"] == "mlpipe_blob" and models["datastore_kind"] == "blob"
    assert models["uri"].startswith("http://127.0.0.1:") and "/pipelines/mlpipe/" in models["uri"]
    assert client.list_files(models["path_on_datastore"]) == [
        "logistic_regression.pkl",
        "models.json",
        "random_forest.pkl",
        "test.csv",
    ]
    comparison = xcom_value(dag_run, "compare")["out_data3"]
    assert client.list_files(comparison["path_on_datastore"]) == ["best_model.pkl", "report.json"]

    downloaded = blob_default_datastore.download(tmp_path, prefix=comparison["path_on_datastore"])
    assert downloaded == 2
    report = json.loads((tmp_path / comparison["path_on_datastore"] / "report.json").read_text())
    assert report["bootstrap_rounds"] == 20
    assert set(report["metrics"]) == {"logistic_regression", "random_forest"}
