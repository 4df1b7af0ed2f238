"""BlobDatastoreHook: the wasb hook Airflow uses for the Test button, against Azurite (no mocks)."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.services.azurite import AzuriteServer, as_connection, blob_connection

pytestmark = pytest.mark.integration


def hook_for(description: dict[str, Any]) -> Any:
    from airflow_provider_mlpipe.hooks.blob_connection import BlobDatastoreHook

    return BlobDatastoreHook(wasb_conn_id="models", connection=as_connection(description))


@pytest.fixture
def container() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung or firewalled endpoint)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_existing_container_is_a_success(azurite: AzuriteServer, container: str) -> None:
    azurite.service_client().create_container(container)
    for auth in ("connection_string", "account_key", "sas_token"):
        ok, message = hook_for(blob_connection(azurite, container, root="ml", auth=auth)).test_connection()
        assert ok, (auth, message)
        assert message.startswith(
            f"Connected: container {container!r} on {azurite.blob_endpoint.lower()}, root 'ml' can be listed"
        )


def test_a_missing_container_is_named(azurite: AzuriteServer, container: str) -> None:
    ok, message = hook_for(blob_connection(azurite, container)).test_connection()

    assert not ok
    assert message.startswith(f"container {container!r} does not exist on {azurite.blob_endpoint.lower()}")


def test_a_refused_credential_says_so(azurite: AzuriteServer, container: str) -> None:
    azurite.service_client().create_container(container)
    description = blob_connection(azurite, container, auth="account_key")
    description["password"] = "d3Jvbmcga2V5"
    ok, message = hook_for(description).test_connection()

    assert not ok
    assert message.startswith(f"{azurite.blob_endpoint.lower()} refused the credential: ")
    assert "AuthorizationFailure" in message


def test_an_unreachable_host_fails_without_retries(azurite: AzuriteServer, container: str) -> None:
    port = closed_port()
    description = blob_connection(azurite, container, auth="account_key")
    description["host"] = f"http://127.0.0.1:{port}/devstoreaccount1"
    ok, message = hook_for(description).test_connection()

    assert not ok
    assert message.startswith(f"cannot reach http://127.0.0.1:{port}/devstoreaccount1: ")


def test_a_silent_host_is_given_up_after_the_read_timeout(
    azurite: AzuriteServer, container: str, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_mlpipe.hooks import blob_connection as module

    monkeypatch.setitem(module.TEST_REQUEST_OPTIONS, "read_timeout", 1.0)
    monkeypatch.setattr(module, "TEST_READ_TIMEOUT_S", 1.0)
    description = blob_connection(azurite, container, auth="account_key")
    description["host"] = f"http://127.0.0.1:{silent_port}/devstoreaccount1"
    ok, message = hook_for(description).test_connection()

    assert not ok
    assert message.startswith(f"no answer from http://127.0.0.1:{silent_port}/devstoreaccount1 within 1 s")


def test_the_whole_test_has_a_deadline(
    azurite: AzuriteServer, container: str, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever hangs (name resolution, credential discovery, a server), the answer comes at the deadline.
    from airflow_provider_mlpipe.hooks import blob_connection as module

    monkeypatch.setattr(module, "TEST_DEADLINE_S", 1.0)
    description = blob_connection(azurite, container, auth="account_key")
    description["host"] = f"http://127.0.0.1:{silent_port}/devstoreaccount1"
    ok, message = hook_for(description).test_connection()

    assert (ok, message) == (False, f"no answer from {description['host']} within 1 s")


def test_without_a_container_the_account_is_checked_and_the_option_named(azurite: AzuriteServer) -> None:
    description = blob_connection(azurite, "unused")
    del description["extra"]["container"]
    ok, message = hook_for(description).test_connection()

    assert ok, message
    assert message.startswith(f"Connected to {azurite.blob_endpoint.split('/devstore')[0]}")
    assert '{"container": "<name>"}' in message and "[mlpipe] default_container" in message


def test_an_invalid_container_name_is_reported(azurite: AzuriteServer) -> None:
    ok, message = hook_for(blob_connection(azurite, "Bad_Name")).test_connection()

    assert not ok
    assert message.startswith("datastore 'models': 'Bad_Name' is not a valid container name")


def test_airflow_uses_this_hook_for_mlpipe_blob_connections_and_leaves_wasb_to_the_azure_provider(
    azurite: AzuriteServer, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the UI's Test button runs: Connection.test_connection() through the providers' hook registry."""
    from airflow.models.connection import Connection

    azurite.service_client().create_container(container)
    described = blob_connection(azurite, container)
    monkeypatch.setenv("AIRFLOW_CONN_MLPIPE_TEST_BLOB", json.dumps({**described, "conn_type": "mlpipe_blob"}))
    monkeypatch.setenv("AIRFLOW_CONN_MLPIPE_TEST_WASB", json.dumps({**described, "conn_type": "wasb"}))

    conn = Connection.get_connection_from_secrets("mlpipe_test_blob")
    assert type(conn.get_hook()).__name__ == "BlobDatastoreHook"
    ok, message = conn.test_connection()
    assert ok, message
    assert message.startswith(f"Connected: container {container!r}")
    # Another provider's connection type is not taken over: wasb keeps WasbHook (and no
    # "already registered" warning in every process).
    assert type(Connection.get_connection_from_secrets("mlpipe_test_wasb").get_hook()).__name__ == "WasbHook"


def test_the_mlpipe_blob_form_is_the_wasb_form_plus_the_datastore_fields() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.hooks["mlpipe_blob"].hook_class_name.endswith("blob_connection.BlobDatastoreHook")
    assert manager.hooks["wasb"].hook_class_name.endswith("azure.hooks.wasb.WasbHook")
    widgets = manager.connection_form_widgets
    assert {"extra__mlpipe_blob__container", "extra__mlpipe_blob__root"} <= set(widgets)
    wasb_fields = {name.removeprefix("extra__wasb__") for name in widgets if name.startswith("extra__wasb__")}
    ours = {
        name.removeprefix("extra__mlpipe_blob__")
        for name in widgets
        if name.startswith("extra__mlpipe_blob__")
    }
    assert wasb_fields and wasb_fields <= ours, "every auth field of the Azure provider's form is offered"
    # The Azure provider's labels, placeholders and hidden fields stay (extras keyed by type).
    ours_behaviour = json.dumps(manager.field_behaviours["mlpipe_blob"]).replace("extra__mlpipe_blob__", "")
    assert ours_behaviour == json.dumps(manager.field_behaviours["wasb"]).replace("extra__wasb__", "")
