"""The connection forms and the Test button, through a real Airflow api-server.

`GET /ui/connections/hook_meta` is what the UI's "Add connection" form is built from;
`POST /api/v2/connections/test` is what its Test button calls (enabled with
`[core] test_connection = Enabled`, set for this module's own api-server only). The tested
connections reach the api-server only in the request, as from the form.
"""

from __future__ import annotations

from collections.abc import Iterator
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
