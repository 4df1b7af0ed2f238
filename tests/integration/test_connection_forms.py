"""The connection forms and the Test button, through a real Airflow api-server.

`GET /ui/connections/hook_meta` is what the UI's "Add connection" form is built from;
`POST /api/v2/connections/test` is what its Test button calls (enabled with
`[core] test_connection = Enabled`, set for this module's own api-server only). The tested
connections reach the api-server only in the request, as from the form.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services.airflow_deployment import AirflowDeployment, _started

pytestmark = [pytest.mark.integration, pytest.mark.deployment]


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowDeployment]:
    """An api-server alone (no scheduler needed to build forms or test connections)."""
    root = tmp_path_factory.mktemp("connection-forms")
    deployment = AirflowDeployment(
        home=root / "home",
        components=("api-server",),
        env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"},
    )
    yield from _started(deployment, " (needed by the connection form tests)")


@pytest.fixture(scope="module")
def hook_meta(api_server: AirflowDeployment) -> dict[str, dict[str, Any]]:
    with api_server.client() as client:
        response = client.get("/ui/connections/hook_meta")
    assert response.status_code == 200, response.text
    return {hook["connection_type"]: hook for hook in response.json()}


def titles(hook: dict[str, Any]) -> dict[str, str]:
    """Extra field name -> label, as the form shows them."""
    return {name: field["schema"]["title"] for name, field in (hook["extra_fields"] or {}).items()}


def test_the_local_folder_form_asks_for_a_root_folder_only(hook_meta):
    hook = hook_meta["mlpipe_local"]
    assert hook["hook_name"] == "mlpipe local folder datastore"
    assert titles(hook) == {"root": "Root folder"}
    assert "/data/mlpipe" in hook["extra_fields"]["root"]["description"]
    standard = hook["standard_fields"]
    for name in ("host", "url_schema", "login", "password", "port"):
        assert standard[name]["hidden"] is True, name


def test_the_adla_form_names_account_service_principal_and_tenant(hook_meta):
    hook = hook_meta["mlpipe_adla"]
    assert hook["hook_name"] == "mlpipe Azure Data Lake Analytics"
    assert titles(hook) == {
        "tenant_id": "Tenant ID",
        "access_token": "Access token",
        "adla_job_dns_suffix": "Job endpoint DNS suffix",
        "base_url": "Job endpoint URL (tests)",
    }
    assert hook["extra_fields"]["access_token"]["schema"]["format"] == "password"
    assert "azuredatalakeanalytics.net" in hook["extra_fields"]["adla_job_dns_suffix"]["description"]
    standard = hook["standard_fields"]
    assert {name: standard[name]["title"] for name in ("host", "login", "password")} == {
        "host": "Account name",
        "login": "Client ID",
        "password": "Client secret",
    }
    assert standard["url_schema"]["hidden"] and standard["port"]["hidden"]
    assert not standard["host"]["hidden"] and standard["host"]["placeholder"]


def test_connection(api_server: AirflowDeployment, **connection: Any) -> tuple[bool, str]:
    """POST /api/v2/connections/test as the UI's Test button does; returns (status, message)."""
    body = {"connection_id": "form_under_test", **connection}
    if isinstance(body.get("extra"), dict):
        body["extra"] = json.dumps(body["extra"])
    with api_server.client() as client:
        response = client.post("/api/v2/connections/test", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    return answer["status"], answer["message"]


test_connection.__test__ = False  # a helper, not a test


def test_the_test_button_checks_a_local_folder(api_server, tmp_path: Path):
    existing = tmp_path / "store"
    existing.mkdir()
    ok, message = test_connection(api_server, conn_type="mlpipe_local", extra={"root": str(existing)})
    assert ok, message
    assert str(existing) in message and "writable" in message
    assert list(existing.iterdir()) == [], "the check leaves nothing behind"

    later = tmp_path / "not" / "yet"
    ok, message = test_connection(api_server, conn_type="mlpipe_local", extra={"root": str(later)})
    assert ok, message
    assert "does not exist yet" in message and str(tmp_path) in message
    assert not (tmp_path / "not").exists(), "the check leaves nothing behind"

    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    ok, message = test_connection(api_server, conn_type="mlpipe_local", extra={"root": str(a_file)})
    assert not ok and f"{a_file} is a file, not a folder" in message

    ok, message = test_connection(api_server, conn_type="mlpipe_local", extra={"root": str(a_file / "sub")})
    assert not ok and f"cannot create {a_file / 'sub'}" in message

    ok, message = test_connection(api_server, conn_type="mlpipe_local", extra={"root": None})
    assert not ok and "Root folder" in message


def test_the_test_button_checks_an_adla_account(api_server, adla_standin):
    base = {"conn_type": "mlpipe_adla", "host": adla_standin.account}
    extra = {"base_url": adla_standin.url, "access_token": adla_standin.token}
    ok, message = test_connection(api_server, **base, extra=extra)
    assert ok, message
    assert f"ADLA account {adla_standin.account!r}" in message
    assert ("GET", f"/{adla_standin.account}/jobs", {"$top": "1", "api-version": "2017-09-01-preview"}) in (
        adla_standin.requests
    )

    ok, message = test_connection(api_server, **base, extra={**extra, "access_token": "expired"})
    assert not ok and "Authentication failed: missing or invalid token." in message

    ok, message = test_connection(api_server, **{**base, "host": "otheraccount"}, extra=extra)
    assert not ok and "Account 'otheraccount' not found." in message

    ok, message = test_connection(api_server, conn_type="mlpipe_adla", extra=extra)
    assert not ok and "Account name" in message


def test_the_mlpipe_blob_form_is_the_wasb_form_plus_the_datastore_fields(hook_meta):
    fields = titles(hook_meta["mlpipe_blob"])
    assert fields["container"] == "Container"
    assert fields["root"] == "Root prefix"
    wasb = titles(hook_meta["wasb"])
    assert "sas_token" in wasb and {k: v for k, v in fields.items() if k in wasb} == wasb, (
        "the Azure provider's fields and labels stay"
    )
    assert "container" not in wasb, "the Azure provider's own wasb form is left as it is"


def test_the_test_button_checks_a_blob_datastore(api_server, azurite):
    import uuid

    from tests.services.azurite import blob_connection

    container = f"t{uuid.uuid4().hex[:16]}"
    extra = blob_connection(azurite, container, root="ml")["extra"]
    ok, message = test_connection(api_server, conn_type="mlpipe_blob", extra=extra)
    assert not ok and message.startswith(f"container {container!r} does not exist on "), message

    azurite.service_client().create_container(container)
    ok, message = test_connection(api_server, conn_type="mlpipe_blob", extra=extra)
    assert ok and message.startswith(f"Connected: container {container!r} on "), message

    wrong_key = {
        **extra,
        "connection_string": extra["connection_string"].replace("AccountKey=E", "AccountKey=X"),
    }
    ok, message = test_connection(api_server, conn_type="mlpipe_blob", extra=wrong_key)
    assert not ok and "refused the credential" in message and "AuthorizationFailure" in message, message


def test_the_cli_tests_a_connection_too(tmp_path: Path):
    """`airflow connections test <id>`: the same check from a shell (exit 1 and the reason on failure)."""
    from tests.conftest import airflow_cli

    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    env = {
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW_CONN_CLI_FOLDER": json.dumps(
            {"conn_type": "mlpipe_local", "extra": {"root": str(tmp_path)}}
        ),
        "AIRFLOW_CONN_CLI_FILE": json.dumps({"conn_type": "mlpipe_local", "extra": {"root": str(a_file)}}),
    }
    passed = airflow_cli("connections", "test", "cli_folder", env=env)
    assert passed.returncode == 0 and "Connection success!" in passed.stdout, passed.stdout + passed.stderr
    failed = airflow_cli("connections", "test", "cli_file", env=env)
    assert failed.returncode == 1 and f"{a_file} is a file, not a folder" in failed.stdout, failed.stdout
