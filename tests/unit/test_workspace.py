"""v1's `Workspace`: its constructor, `from_config` and `write_config`, and what the embedded local
workspace holds (datastores, the default datastore, experiments, compute targets) in this
session's metadata DB."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mlpipe import ComputeTarget, Datastore, Workspace
from airflow_provider_mlpipe.contract import DEFAULT_DATASTORE_VARIABLE


@pytest.fixture
def clean_default():
    """Whatever a test chooses as the default datastore is forgotten afterwards."""
    from airflow.models import Variable

    yield
    Variable.delete(DEFAULT_DATASTORE_VARIABLE)


@pytest.fixture
def connection():
    """Add Airflow connections to the metadata DB for one test."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    added: list[str] = []

    def add(conn_id: str, conn_type: str, **fields) -> None:
        with create_session() as session:
            session.add(Connection(conn_id=conn_id, conn_type=conn_type, **fields))
        added.append(conn_id)

    yield add
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id.in_(added)).delete(synchronize_session=False)


def test_v1_constructor_makes_the_embedded_local_workspace():
    ws = Workspace("sub-id", "rg", "my-ws")
    assert (ws.subscription_id, ws.resource_group, ws.name, ws.is_local) == ("sub-id", "rg", "my-ws", True)
    assert Workspace(subscription_id="s", resource_group="r", workspace_name="w").name == "w"
    assert Workspace.local().is_local and Workspace.local().name == "local"


def test_a_remote_workspace_needs_credentials():
    with pytest.raises(ValueError, match="give a token, a username and password"):
        Workspace(None, None, "w", url="http://127.0.0.1:1")
    ws = Workspace.connect("http://127.0.0.1:1/", token="t")
    assert not ws.is_local and ws.url == "http://127.0.0.1:1"


def test_from_config_without_a_file_is_the_embedded_local_workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Workspace.from_config().is_local
    with pytest.raises(FileNotFoundError, match="no file"):
        Workspace.from_config(tmp_path / "missing.json")


def test_from_config_finds_v1s_file_in_the_folder_its_azureml_folder_or_a_parent(tmp_path, monkeypatch):
    (tmp_path / ".azureml").mkdir()
    (tmp_path / ".azureml" / "config.json").write_text(
        json.dumps(
            {
                "subscription_id": "sub",
                "resource_group": "rg",
                "workspace_name": "prod",
                "airflow_url": "http://airflow.example:8080",
                "username": "alice",
            }
        )
    )
    nested = tmp_path / "notebooks" / "deep"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    monkeypatch.setenv("MLPIPE_AIRFLOW_PASSWORD", "s3cret")
    ws = Workspace.from_config()
    assert (ws.name, ws.subscription_id, ws.url, ws.username, ws.is_local) == (
        "prod",
        "sub",
        "http://airflow.example:8080",
        "alice",
        False,
    )
    assert ws._password == "s3cret"
    (nested / "other.json").write_text(json.dumps({"workspace_name": "by-file"}))
    assert Workspace.from_config(nested / "other.json").name == "by-file"
    assert Workspace.from_config(nested, _file_name="other.json").name == "by-file"


def test_from_config_refuses_a_file_that_is_not_a_json_object(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="is not a JSON object"):
        Workspace.from_config(tmp_path)


def test_write_config_round_trips_and_writes_no_secret(tmp_path):
    ws = Workspace.connect("http://airflow.example:8080", username="alice", password="s3cret")
    written = ws.write_config(tmp_path)
    assert written == tmp_path / ".azureml" / "config.json"
    assert "s3cret" not in written.read_text()
    again = Workspace.from_config(tmp_path, auth=None)
    assert (again.url, again.username) == ("http://airflow.example:8080", "alice")


def test_an_auth_object_with_a_header_authenticates_a_remote_workspace():
    class Auth:
        def get_authentication_header(self):
            return {"Authorization": "Bearer from-auth"}

    ws = Workspace(None, None, "w", auth=Auth(), url="http://127.0.0.1:1")
    assert not ws.is_local


def test_the_local_workspace_lists_its_datastores_and_the_default(connection, clean_default):
    connection("blob_store", "mlpipe_blob", login="account")
    connection("folder_store", "mlpipe_local", extra=json.dumps({"root": "/tmp/x"}))
    connection("not_a_store", "http", host="example.com")
    ws = Workspace.local()
    stores = ws.datastores
    assert {"blob_store", "folder_store", "mlpipe_default"} <= set(stores)
    assert "not_a_store" not in stores
    assert all(isinstance(store, Datastore) and store.name == name for name, store in stores.items())
    assert ws.get_default_datastore().name == "mlpipe_default"


def test_set_default_datastore_changes_what_the_default_datastore_resolves_to(connection, clean_default):
    from airflow_provider_mlpipe.hooks.resolve import default_datastore_name

    connection("chosen_store", "mlpipe_local", extra=json.dumps({"root": "/tmp/chosen"}))
    ws = Workspace.local()
    ws.set_default_datastore("chosen_store")
    assert ws.get_default_datastore().name == "chosen_store"
    assert default_datastore_name() == "chosen_store"  # what a step's default datastore becomes
    with pytest.raises(ValueError, match="no datastore 'nope'"):
        ws.set_default_datastore("nope")
    with pytest.raises(ValueError, match="not a valid Airflow connection id"):
        ws.set_default_datastore("bad name!")


def test_compute_targets_are_the_service_connections_and_the_default_queue(connection):
    connection("my_databricks", "databricks", host="https://db.example")
    connection("my_adla", "mlpipe_adla", host="account")
    targets = Workspace.local().compute_targets
    assert targets["my_databricks"].type == "Databricks"
    assert targets["my_adla"].type == "AdlaCompute"
    assert targets["default"].type == "AirflowQueue"
    assert ComputeTarget(Workspace.local(), "gpu_queue").type == "AirflowQueue"
    assert ComputeTarget(workspace=Workspace.local(), name="my_databricks").type == "Databricks"


def test_experiments_are_the_names_local_runs_recorded(tmp_path):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    from airflow_provider_mlpipe import Pipeline, PythonScriptStep
    from airflow_provider_mlpipe.local_submit import _register_dag

    (tmp_path / "a.py").write_text("")
    _register_dag(
        Pipeline([PythonScriptStep("a.py", source_directory=tmp_path)]).to_dag("mlpipe_catalog_test")
    )
    with create_session() as session:
        session.add(
            DagRun(
                dag_id="mlpipe_catalog_test",
                run_id="catalog_run",
                run_type=DagRunType.MANUAL,
                state=DagRunState.SUCCESS,
                conf={"mlpipe": {"experiment_name": "catalog_exp"}},
            )
        )
    experiments = Workspace.local().experiments
    assert experiments["catalog_exp"].name == "catalog_exp"
    assert experiments["catalog_exp"].workspace.is_local


def test_what_a_dag_file_calls_on_the_local_workspace_reads_no_metadata_db(monkeypatch, tmp_path):
    """Airflow forbids the metadata DB while parsing DAG files: a v1 DAG file's workspace lines must
    not touch it (its compute targets' and default datastore's details are looked up when used)."""
    import airflow_provider_mlpipe.workspace_catalog as catalog

    def forbidden():
        raise RuntimeError("Access to the Airflow Metadatabase from dags is not allowed!")

    monkeypatch.setattr(catalog, "_local_session", forbidden)
    monkeypatch.chdir(tmp_path)
    ws = Workspace.from_config()
    print(ws.name, ws.resource_group, ws.location, ws.subscription_id)  # what every v1 notebook prints
    target = ComputeTarget(workspace=ws, name="default")
    store = ws.get_default_datastore()
    assert (target.name, store.given_name) == ("default", None)
