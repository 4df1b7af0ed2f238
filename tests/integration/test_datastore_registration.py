"""Registering Blob datastores as v1 does, for real: validation and container creation on Azurite,
v1's `upload_files`/`download` through the registered connection, and registration through a
remote Airflow's REST API whose task then writes to that datastore. No secret shows anywhere.
"""

from __future__ import annotations

import logging
import textwrap
import uuid

import pytest

from airflow_provider_mlpipe import Datastore, Workspace
from airflow_provider_mlpipe.exceptions import DatastoreError
from tests.services.azurite import AzuriteServer, container_sas_token

pytestmark = pytest.mark.integration

WRONG_KEY = "d3Jvbmcta2V5LW5vdC10aGUtYXp1cml0ZS1vbmUtMDAwMDAwMDAwMDAwMDAwMA=="


def new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def new_container() -> str:
    return f"reg-{uuid.uuid4().hex[:12]}"


def register(azurite: AzuriteServer, workspace, name: str, container: str, **options):
    return Datastore.register_azure_blob_container(
        workspace,
        name,
        container,
        azurite.account_name,
        protocol="http",
        endpoint=f"127.0.0.1:{azurite.port}",
        **options,
    )


@pytest.fixture
def local_name():
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    name = new_name("azurite_store")
    yield name
    with create_session() as session:
        session.execute(delete(Connection).where(Connection.conn_id == name))


def test_register_creates_the_container_and_upload_files_places_like_v1(azurite, local_name, tmp_path):
    container = new_container()
    datastore = register(
        azurite, None, local_name, container, account_key=azurite.account_key, create_if_not_exists=True
    )
    assert azurite.service_client().get_container_client(container).exists()

    data = tmp_path / "data"
    for relative in ("train/a.csv", "train/deep/b.csv", "test/c.csv"):
        (data / relative).parent.mkdir(parents=True, exist_ok=True)
        (data / relative).write_text(relative)
    files = sorted(data.rglob("*.csv"))
    reference = datastore.upload_files(files, str(data), "inputs", False, False)  # v1's positional order
    assert reference.path_on_datastore == "inputs" and reference.datastore == datastore
    blobs = sorted(b.name for b in azurite.service_client().get_container_client(container).list_blobs())
    assert blobs == ["inputs/test/c.csv", "inputs/train/a.csv", "inputs/train/deep/b.csv"]

    (data / "test" / "c.csv").write_text("changed")
    datastore.upload_files(files, relative_root=data, target_path="inputs", show_progress=False)  # kept
    assert datastore.download(tmp_path / "down", "inputs/t", show_progress=False) == 3
    assert (tmp_path / "down" / "inputs" / "test" / "c.csv").read_text() == "test/c.csv"
    assert datastore.download(tmp_path / "down", "inputs/train", show_progress=False) == 0  # all there
    assert datastore.download(tmp_path / "down", "inputs/train/", True, False) == 2


def test_a_refused_credential_registers_nothing_and_shows_no_secret(azurite, local_name, caplog, capsys):
    from tests.unit.test_datastore_registration import stored_connection

    caplog.set_level(logging.DEBUG)
    container = new_container()
    azurite.service_client().create_container(container)
    with pytest.raises(DatastoreError, match="was not registered: .*refused the credential") as refused:
        register(azurite, None, local_name, container, account_key=WRONG_KEY)
    sas = container_sas_token(azurite, "some-other-container")
    with pytest.raises(DatastoreError, match="was not registered") as refused_sas:
        register(azurite, None, local_name, container, sas_token=sas)
    assert stored_connection(local_name) is None
    shown = [caplog.text, *capsys.readouterr(), str(refused.value), str(refused_sas.value)]
    signature = sas.split("sig=")[1].split("&")[0]
    assert all(WRONG_KEY not in text and signature not in text for text in shown)

    missing = new_container()
    with pytest.raises(DatastoreError, match=f"container '{missing}' does not exist.*create_if_not_exists"):
        register(azurite, None, local_name, missing, account_key=azurite.account_key)
    assert not azurite.service_client().get_container_client(missing).exists()


WRITE_SCRIPT = """
import argparse, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--out")
out = pathlib.Path(parser.parse_args().out)
out.mkdir(parents=True, exist_ok=True)
(out / "hello.txt").write_text("written through a registered datastore")
"""


@pytest.mark.deployment
def test_register_through_a_remote_airflow_and_a_task_writes_there(azurite, airflow_deployment):
    name = new_name("remote_store")
    container = new_container()
    sas = container_sas_token(azurite, container)
    azurite.service_client().create_container(container)
    workspace = Workspace.connect(airflow_deployment.url, username="admin", password="admin")
    try:
        datastore = register(azurite, workspace, name, container, account_key=azurite.account_key)
        assert datastore.name == name and datastore.workspace is workspace
        with airflow_deployment.client() as client:
            stored = client.get(f"/api/v2/connections/{name}").json()
        assert (stored["conn_type"], stored["host"], stored["login"]) == (
            "mlpipe_blob",
            azurite.blob_endpoint,
            azurite.account_name,
        )
        with pytest.raises(DatastoreError, match=f"'{name}' already exists .*overwrite=True") as exists:
            register(azurite, workspace, name, container, sas_token=sas)
        register(azurite, workspace, name, container, sas_token=sas, overwrite=True)
        with airflow_deployment.client() as client:
            replaced = client.get(f"/api/v2/connections/{name}").json()
        assert replaced["password"] in (None, "")  # the key is gone: the SAS replaced it
        assert '"container": "' + container in replaced["extra"] and "sas_token" in replaced["extra"]

        viewer = Workspace.connect(airflow_deployment.url, username="viewer", password="viewer")
        with pytest.raises(DatastoreError, match=r"refused to write its connection \(HTTP 403") as refused:
            register(azurite, viewer, new_name("viewer_store"), container, sas_token=sas)
        viewer.close()

        dag_id = new_name("registered_datastore_dag")
        airflow_deployment.write_dag(
            dag_id,
            textwrap.dedent(f"""
            from airflow_provider_mlpipe import Datastore, Pipeline, PipelineData, PythonScriptStep

            out = PipelineData("out", datastore=Datastore("{name}"))
            step = PythonScriptStep(
                "write.py", name="write", arguments=["--out", out], outputs=[out],
                source_directory="{dag_id}_src", allow_reuse=False,
            )
            dag = Pipeline([step]).to_dag("{dag_id}")
        """),
            {"write.py": WRITE_SCRIPT},
        )
        airflow_deployment.wait_for_dag(dag_id, timeout=120)
        run = airflow_deployment.wait_for_run(dag_id, airflow_deployment.trigger(dag_id)["dag_run_id"])
        assert run["state"] == "success", airflow_deployment.task_log(dag_id, run["dag_run_id"], "write")
        blobs = [b.name for b in azurite.service_client().get_container_client(container).list_blobs()]
        assert any(blob.endswith("/hello.txt") for blob in blobs), blobs
    finally:
        with airflow_deployment.client() as client:
            client.delete(f"/api/v2/connections/{name}")
        workspace.close()
    signature = sas.split("sig=")[1].split("&")[0]
    texts = [str(exists.value), str(refused.value)]
    texts += [airflow_deployment.logs(component) for component in airflow_deployment.components]
    assert all(azurite.account_key not in text and signature not in text for text in texts)
