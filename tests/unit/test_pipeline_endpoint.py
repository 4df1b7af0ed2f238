"""`PipelineEndpoint` of a remote workspace: what it sends to `/mlpipe/endpoints` (a stand-in API
that records each request), v1's argument mapping, and what it refuses before sending anything."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from airflow_provider_mlpipe import Experiment, Pipeline, PipelineEndpoint, PythonScriptStep, Workspace
from airflow_provider_mlpipe.exceptions import ApiError

URL = "http://airflow.test"


def _record(default: str = "0", status: str = "Active") -> dict[str, Any]:
    return {
        "Id": "e-1",
        "Name": "scoring",
        "Description": "d",
        "DefaultVersion": default,
        "EntityStatus": status,
        "PipelineVersionList": [{"Version": "0", "PipelineId": "p0"}, {"Version": "1", "PipelineId": "p1"}],
        "Url": f"{URL}/mlpipe/endpoints/e-1/submit",
    }


@pytest.fixture
def api():
    """A remote workspace whose API records each request and answers like `/mlpipe/endpoints`."""
    sent: list[tuple[str, str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        sent.append(
            (
                request.method,
                request.url.path + (f"?{request.url.query.decode()}" if request.url.query else ""),
                body,
            )
        )
        if request.url.path.endswith("/submit"):
            version = (body or {}).get("PipelineVersion") or "0"
            return httpx.Response(
                200, json={"Id": "run-1", "PipelineId": f"p{version}", "PipelineVersion": version}
            )
        if request.url.path == "/mlpipe/endpoints" and request.method == "GET":
            return httpx.Response(200, json={"PipelineEndpoints": [_record()]})
        if request.url.path.endswith("/default"):
            return httpx.Response(200, json=_record(default=str(body.get("Version", "0"))))
        if request.url.path.endswith("/disable"):
            return httpx.Response(200, json=_record(status="Disabled"))
        return httpx.Response(200, json=_record())

    ws = Workspace.connect(URL, token="token")
    ws._http = httpx.Client(base_url=URL, transport=httpx.MockTransport(answer))
    yield ws, sent
    ws.close()


def test_publish_get_list_and_changes_send_v1s_fields(api):
    ws, sent = api
    endpoint = PipelineEndpoint.publish(ws, "scoring", "d", "p0")
    assert sent[-1] == (
        "POST",
        "/mlpipe/endpoints",
        {"Name": "scoring", "Description": "d", "PipelineId": "p0"},
    )
    assert (endpoint.id, endpoint.endpoint, endpoint.default_version) == (
        "e-1",
        f"{URL}/mlpipe/endpoints/e-1/submit",
        "0",
    )
    assert [(v.version, v.pipeline_id) for v in endpoint.pipeline_version_list] == [("0", "p0"), ("1", "p1")]
    PipelineEndpoint.get(ws, name="scoring")
    assert sent[-1][:2] == ("GET", "/mlpipe/endpoints/scoring")
    [listed] = PipelineEndpoint.list(ws, False, 5)
    assert listed.name == "scoring" and sent[-1][1] == "/mlpipe/endpoints?active_only=false&max_results=5"
    endpoint.add_default("p2")
    assert sent[-1] == ("POST", "/mlpipe/endpoints/e-1/versions", {"PipelineId": "p2", "SetDefault": True})
    endpoint.set_default_version(1)
    assert (
        sent[-1] == ("POST", "/mlpipe/endpoints/e-1/default", {"Version": "1"})
        and endpoint.default_version == "1"
    )
    endpoint.disable()
    assert sent[-1][:2] == ("POST", "/mlpipe/endpoints/e-1/disable") and endpoint.status == "Disabled"
    endpoint.set_name("renamed")
    assert sent[-1] == ("PATCH", "/mlpipe/endpoints/e-1", {"Name": "renamed"})


def test_submit_sends_the_version_and_v1s_payload(api):
    ws, sent = api
    endpoint = PipelineEndpoint.get(ws, id="e-1")
    run = endpoint.submit("exp", {"n": 2}, "parent-1", "1")
    assert sent[-1] == (
        "POST",
        "/mlpipe/endpoints/e-1/submit",
        {
            "ExperimentName": "exp",
            "ParameterAssignments": {"n": 2},
            "ParentRunId": "parent-1",
            "PipelineVersion": "1",
        },
    )
    assert (run.id, run.pipeline_id) == ("run-1", "p1")
    run = Experiment(ws, "exp").submit(
        endpoint, tags={"a": "b"}, pipeline_params={"n": 3}, pipeline_version=0
    )
    assert sent[-1][2] == {
        "ExperimentName": "exp",
        "ParameterAssignments": {"n": 3},
        "Tags": {"a": "b"},
        "PipelineVersion": "0",
    }
    Experiment(ws, "exp").submit(endpoint)
    assert "PipelineVersion" not in sent[-1][2]


def test_refusals_before_anything_is_sent(api):
    ws, sent = api
    endpoint = PipelineEndpoint.get(ws, id="e-1")
    count = len(sent)
    with pytest.raises(ApiError, match="not a version number") as error:
        endpoint.submit("exp", pipeline_version="latest")
    assert error.value.status_code == 400
    with pytest.raises(TypeError, match="unexpected arguments"):
        Experiment(ws, "exp").submit(endpoint, nonsense=1)
    with pytest.raises(ValueError, match="experiment_name is required"):
        endpoint.submit("")
    with pytest.raises(ValueError, match="version is text"):
        endpoint.set_default_version(None)
    with pytest.raises(ApiError, match="DAG id rule") as error:
        PipelineEndpoint.publish(ws, "a name with spaces", None, "p0")
    assert error.value.status_code == 400
    with pytest.raises(ValueError, match="PublishedPipeline"):
        endpoint.add(3)
    with pytest.raises(ValueError, match="give the endpoint's id or name"):
        PipelineEndpoint.get(ws)
    notebook_pipeline = Pipeline([PythonScriptStep("x.py", name="x", source_directory=".")])
    with pytest.raises(ValueError, match=r"publish it in a DAG file .*PublishedPipeline.get"):
        PipelineEndpoint.publish(ws, "scoring", None, notebook_pipeline)
    assert len(sent) == count
