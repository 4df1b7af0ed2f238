"""v1's `Datastore.register_azure_blob_container` / `register_azure_data_lake_gen2` against this
machine's real metadata DB (the test session's migrated Airflow home): the connection written,
overwrite, refusals, and no secret in any log, output or error.

Validation and container creation against Azurite, and registering through a remote API server,
are in tests/integration/test_datastore_registration.py.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from airflow_provider_mlpipe import Datastore
from airflow_provider_mlpipe.datastore_registration import account_url, scrub
from airflow_provider_mlpipe.exceptions import DatastoreError
from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore
from airflow_provider_mlpipe.hooks.resolve import resolve_datastore

KEY = "c2VjcmV0LWFjY291bnQta2V5LWZvci10ZXN0cy0wMDAwMDAwMDAwMDAwMDAwMDA="
SAS = "sv=2024-01-01&ss=b&srt=sco&sp=rl&se=2030-01-01T00%3A00%3A00Z&sig=SAS%2Bsignature%3D"
CLIENT_SECRET = "sp-client-secret-value-0123456789"


def stored_connection(name: str) -> dict | None:
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalar(select(Connection).where(Connection.conn_id == name))
        if row is None:
            return None
        return {
            "conn_type": row.conn_type,
            "host": row.host,
            "login": row.login,
            "password": row.password,
            "extra": json.loads(row.extra or "{}"),
            "description": row.description,
        }


@pytest.fixture
def name():
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    conn_id = f"registered_{uuid.uuid4().hex[:8]}"
    yield conn_id
    with create_session() as session:
        session.execute(delete(Connection).where(Connection.conn_id == conn_id))


@pytest.fixture
def no_storage_check(monkeypatch):
    """Registrations below skip the storage check (their accounts do not exist)."""
    checked = []
    monkeypatch.setattr(
        "airflow_provider_mlpipe.datastore_registration._check_storage",
        lambda *args: checked.append(args),
    )
    return checked


def test_blob_container_becomes_a_local_connection_with_the_account_key(name):
    datastore = Datastore.register_azure_blob_container(
        None,
        name,
        "pipelines",
        "myaccount",
        account_key=KEY,
        skip_validation=True,
        subscription_id="sub-1",
        resource_group="rg-1",
        grant_workspace_access=True,
        blob_cache_timeout=60,
    )
    assert isinstance(datastore, Datastore) and datastore.name == name
    assert stored_connection(name) == {
        "conn_type": "mlpipe_blob",
        "host": "https://myaccount.blob.core.windows.net",
        "login": "myaccount",
        "password": KEY,
        "extra": {"container": "pipelines"},
        "description": "mlpipe datastore (Datastore.register_azure_blob_container); subscription "
        "'sub-1', resource group 'rg-1'",
    }
    client = resolve_datastore(name)  # what a task or upload_files builds from it
    assert isinstance(client, BlobDatastore) and client.container == "pipelines"
    assert client.uri("a.csv") == "https://myaccount.blob.core.windows.net/pipelines/a.csv"


def test_positional_v1_arguments(name):
    Datastore.register_azure_blob_container(
        None, name, "data", "acct", SAS, None, "http", "core.chinacloudapi.cn", False, False, True
    )
    stored = stored_connection(name)
    assert stored["host"] == "http://acct.blob.core.chinacloudapi.cn"
    assert stored["password"] is None and stored["extra"] == {"container": "data", "sas_token": SAS}


def test_an_existing_datastore_is_replaced_only_with_overwrite(name, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    Datastore.register_azure_blob_container(None, name, "one", "acct", account_key=KEY, skip_validation=True)
    with pytest.raises(
        DatastoreError, match=rf"datastore '{name}' already exists .* overwrite=True"
    ) as refused:
        Datastore.register_azure_blob_container(
            None, name, "two", "acct", sas_token=SAS, skip_validation=True
        )
    assert stored_connection(name)["extra"] == {"container": "one"}
    Datastore.register_azure_blob_container(
        None, name, "two", "acct", sas_token="?" + SAS, account_key=KEY, overwrite=True, skip_validation=True
    )
    stored = stored_connection(name)
    assert stored["password"] is None  # the SAS wins over the key, as in v1; the old key is gone
    assert stored["extra"] == {"container": "two", "sas_token": SAS}
    shown = caplog.text + "".join(capsys.readouterr()) + str(refused.value)
    assert name in caplog.text
    for secret in (KEY, SAS, "SAS%2Bsignature"):
        assert secret not in shown


def test_emulator_endpoints_are_path_style():
    assert (
        account_url("devstoreaccount1", "http", "127.0.0.1:10000")
        == "http://127.0.0.1:10000/devstoreaccount1"
    )
    assert account_url("dev", None, "localhost:10000") == "https://localhost:10000/dev"
    assert account_url("dev", "http", "http://azurite:10000/dev/") == "http://azurite:10000/dev"
    assert account_url("acct", None, None) == "https://acct.blob.core.windows.net"
    with pytest.raises(ValueError, match="protocol must be 'https' or 'http'"):
        account_url("acct", "ftp", None)


def test_bad_names_are_refused_before_anything_is_written(name):
    with pytest.raises(ValueError, match="not a valid Airflow connection id"):
        Datastore.register_azure_blob_container(None, "bad name", "data", "acct", skip_validation=True)
    with pytest.raises(ValueError, match="'Bad_Container' is not a valid container name"):
        Datastore.register_azure_blob_container(None, name, "Bad_Container", "acct", skip_validation=True)
    assert stored_connection(name) is None


def test_data_lake_gen2_is_a_blob_connection_with_the_service_principal(name, no_storage_check):
    datastore = Datastore.register_azure_data_lake_gen2(
        None,
        name,
        "lake",
        "acct",
        "tenant-1",
        "client-1",
        CLIENT_SECRET,
        authority_url="https://login.microsoftonline.us",
        resource_url="https://storage.azure.com/",
    )
    assert datastore.name == name and len(no_storage_check) == 1  # v1 always validates Gen2
    assert stored_connection(name) == {
        "conn_type": "mlpipe_blob",
        "host": "https://acct.blob.core.windows.net",
        "login": "client-1",
        "password": CLIENT_SECRET,
        "extra": {
            "container": "lake",
            "tenant_id": "tenant-1",
            "client_secret_auth_config": {"authority": "https://login.microsoftonline.us"},
            "audience": "https://storage.azure.com/",
        },
        "description": "mlpipe datastore (Datastore.register_azure_data_lake_gen2)",
    }
    hook_extra = resolve_datastore(name)  # the connection builds a client (no request is made)
    assert hook_extra.container == "lake"


def test_data_lake_gen2_needs_the_whole_service_principal_or_none(name, no_storage_check):
    with pytest.raises(ValueError, match="give tenant_id, client_id and client_secret together"):
        Datastore.register_azure_data_lake_gen2(None, name, "lake", "acct", tenant_id="t", client_id="c")
    Datastore.register_azure_data_lake_gen2(None, name, "lake", "acct")  # the user's identity
    stored = stored_connection(name)
    assert (stored["login"], stored["password"], stored["extra"]) == (None, None, {"container": "lake"})


def test_a_failed_validation_writes_nothing_and_shows_no_secret(name, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DatastoreError, match=f"datastore '{name}' was not registered") as refused:
        Datastore.register_azure_data_lake_gen2(
            None,
            name,
            "lake",
            "acct",
            "tenant-1",
            "client-1",
            CLIENT_SECRET,
            authority_url="https://127.0.0.1:1",
            endpoint="127.0.0.1:1",
        )
    assert stored_connection(name) is None
    texts = [caplog.text, *capsys.readouterr(), str(refused.value)]
    cause = refused.value.__cause__ or refused.value.__context__
    texts += [str(cause)] if cause is not None else []
    assert all(CLIENT_SECRET not in text for text in texts)


def test_scrub_hides_secrets_in_every_form():
    text = f"key {KEY} url https://a/c?{SAS} quoted {KEY.replace('=', '%3D').replace('/', '%2F')}"
    cleaned = scrub(text, [KEY, SAS])
    assert KEY not in cleaned and "signature" not in cleaned and "%3D" not in cleaned.split("quoted")[1]
    assert scrub("GET /c?restype=container&sig=abc%2Bdef HTTP", []) == "GET /c?restype=container&sig=*** HTTP"
