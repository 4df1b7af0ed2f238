"""Pipeline endpoints (`PipelineEndpoint`, `/mlpipe/endpoints`): in-process against the test home's
metadata DB with a stub auth manager (who may do what), and on a real deployment (PostgreSQL, two
users) from the notebook client and raw REST: submit by name, by id and by `PipelineVersion`,
default switching, disable -> 409, concurrent adds, a viewer's 403.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest

from airflow_provider_mlpipe import Experiment, PipelineEndpoint, PublishedPipeline, Workspace
from airflow_provider_mlpipe.exceptions import ApiError

PREFIX = "/mlpipe"

# ---------------------------------------------------------------- in-process, stub auth manager


class _User:
    def get_name(self) -> str:
        return "tester"

    def get_id(self) -> str:
        return "tester"


class _StubAuthManager:
    """Lets the user read the DAGs in `readable` and change (PUT) those in `editable`."""

    def __init__(self, readable: set[str], editable: set[str]) -> None:
        self.readable, self.editable = readable, editable

    def get_authorized_dag_ids(self, *, user: Any, method: str = "GET", session: Any = None) -> set[str]:
        return set(self.readable if method == "GET" else self.editable)

    def is_authorized_dag(
        self, *, method: str, access_entity: Any = None, details: Any = None, user: Any
    ) -> bool:
        return details.id in (self.readable if method == "GET" else self.editable)


@pytest.fixture
def published_in_db():
    """Three published pipelines (DAG rows tagged `mlpipe:published`) in the test DB."""
    from airflow.models.dag import DagModel, DagTag
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session

    names = [f"mlpipe_ep_{suffix}" for suffix in ("a", "b", "secret")]
    with create_session() as session:
        if session.get(DagBundleModel, "mlpipe-endpoint-test") is None:
            session.add(DagBundleModel(name="mlpipe-endpoint-test"))
            session.flush()
        for name in names:
            if session.get(DagModel, name) is None:
                session.add(
                    DagModel(dag_id=name, bundle_name="mlpipe-endpoint-test", is_stale=False, is_paused=False)
                )
                session.flush()
                session.add(DagTag(name="mlpipe:published", dag_id=name))
    yield names
    with create_session() as session:
        for name in names:
            session.query(DagTag).filter(DagTag.dag_id == name).delete()
            session.query(DagModel).filter(DagModel.dag_id == name).delete()


def _client(monkeypatch: pytest.MonkeyPatch, readable: set[str], editable: set[str]):
    import airflow.api_fastapi.app as airflow_app
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from airflow_provider_mlpipe.api.app import create_app

    monkeypatch.setattr(airflow_app, "get_auth_manager", lambda: _StubAuthManager(readable, editable))
    app = create_app()
    app.dependency_overrides[get_user] = _User
    return TestClient(app, headers={"Authorization": "Bearer stub"})


@pytest.mark.integration
def test_rest_publish_add_default_and_read_follow_the_users_rights(monkeypatch, published_in_db):
    a, b, secret = published_in_db
    name = f"rest_{uuid.uuid4().hex[:8]}"
    editor = _client(monkeypatch, {a, b, "not_published"}, {a, b, "not_published"})
    made = editor.post("/endpoints", json={"Name": name, "Description": "d", "PipelineId": a})
    assert made.status_code == 200, made.text
    record = made.json()
    assert record["DefaultVersion"] == "0" and record["EntityStatus"] == "Active"
    assert record["PipelineVersionList"] == [{"Version": "0", "PipelineId": a}]
    assert record["Url"].endswith(f"/endpoints/{record['Id']}/submit")
    assert editor.post("/endpoints", json={"Name": name, "PipelineId": b}).status_code == 409
    assert (
        editor.post("/endpoints", json={"Name": name + "x", "PipelineId": "not_published"}).status_code == 404
    )
    added = editor.post(f"/endpoints/{name}/versions", json={"PipelineId": b, "SetDefault": True}).json()
    assert added["DefaultVersion"] == "1" and added == editor.get(f"/endpoints/{record['Id']}").json()
    assert editor.post(f"/endpoints/{name}/versions", json={"PipelineId": b}).status_code == 409
    assert editor.post(f"/endpoints/{name}/default", json={"Version": "0"}).json()["DefaultVersion"] == "0"
    assert editor.post(f"/endpoints/{name}/default", json={"PipelineId": b}).json()["DefaultVersion"] == "1"
    assert editor.post(f"/endpoints/{name}/default", json={"Version": "5"}).status_code == 404
    assert editor.post(f"/endpoints/{name}/default", json={}).status_code == 400
    assert [p["Id"] for p in editor.get(f"/endpoints/{name}/pipelines").json()["Pipelines"]] == [a, b]
    assert editor.post(f"/endpoints/{name}/disable").json()["EntityStatus"] == "Disabled"
    assert name not in [e["Name"] for e in editor.get("/endpoints").json()["PipelineEndpoints"]]
    listed = editor.get("/endpoints", params={"active_only": False}).json()["PipelineEndpoints"]
    assert name in [e["Name"] for e in listed]
    submitted = editor.post(f"/endpoints/{name}/submit", json={"ExperimentName": "e"})
    assert submitted.status_code == 409 and "disabled" in submitted.json()["detail"]
    assert editor.post(f"/endpoints/{name}/enable").json()["EntityStatus"] == "Active"
    renamed = editor.patch(
        f"/endpoints/{record['Id']}", json={"Name": name + "_r", "Description": "new"}
    ).json()
    assert (renamed["Name"], renamed["Description"]) == (name + "_r", "new")
    [shown] = [e for e in editor.get("/monitor/api/endpoints").json()["endpoints"] if e["id"] == record["Id"]]
    assert shown["default_version"] == "1" and [v["is_default"] for v in shown["versions"]] == [False, True]

    # A reader (no edit right) sees it, may not change it; one who may not read b does not see it.
    reader = _client(monkeypatch, {a, b}, set())
    assert reader.get(f"/endpoints/{record['Id']}").status_code == 200
    assert reader.post(f"/endpoints/{record['Id']}/disable").status_code == 403
    assert reader.post(f"/endpoints/{record['Id']}/versions", json={"PipelineId": a}).status_code == 403
    assert reader.post("/endpoints", json={"Name": name + "y", "PipelineId": a}).status_code == 403
    assert reader.post(f"/endpoints/{record['Id']}/submit", json={"ExperimentName": "e"}).status_code == 403
    partial = _client(monkeypatch, {a}, {a})
    assert partial.get(f"/endpoints/{record['Id']}").status_code == 403
    assert record["Id"] not in [e["Id"] for e in partial.get("/endpoints").json()["PipelineEndpoints"]]
    assert record["Id"] not in [e["id"] for e in partial.get("/monitor/api/endpoints").json()["endpoints"]]
    # Adding a pipeline the user may not edit is refused, even on an endpoint they may change.
    assert editor.post(f"/endpoints/{record['Id']}/versions", json={"PipelineId": secret}).status_code == 403


@pytest.mark.integration
@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/endpoints", None, 400),
        ("/endpoints", [], 400),
        ("/endpoints", {"Name": "a b", "PipelineId": "mlpipe_ep_a"}, 400),
        ("/endpoints", {"Name": "x", "PipelineId": 3}, 400),
        ("/endpoints", {"Name": "x", "PipelineId": "mlpipe_ep_a", "Extra": 1}, 400),
        ("/endpoints", {"Name": "x", "Description": "d" * 1001, "PipelineId": "mlpipe_ep_a"}, 400),
        ("/endpoints/nope_endpoint/versions", {"PipelineId": "mlpipe_ep_a"}, 404),
        ("/endpoints/nope_endpoint/submit", {"ExperimentName": "e"}, 404),
        ("/endpoints/nope_endpoint/submit", {"ExperimentName": "e", "PipelineVersion": "x"}, 400),
        ("/endpoints/nope_endpoint/submit", {"ExperimentName": "e", "PipelineVersion": True}, 400),
    ],
)
def test_rest_refuses_bad_input_with_4xx(monkeypatch, published_in_db, path, body, status):
    client = _client(monkeypatch, set(published_in_db), set(published_in_db))
    assert client.post(path, json=body).status_code == status


# ---------------------------------------------------------------- the local workspace


@pytest.mark.integration
def test_local_workspace_endpoint_lifecycle():
    ws = Workspace.local()
    a = PublishedPipeline(
        "mlpipe_local_a", "mlpipe_local_a", None, None, "mlpipe_local_a", "Active", None, 1, ws
    )
    b = PublishedPipeline(
        "mlpipe_local_b", "mlpipe_local_b", None, None, "mlpipe_local_b", "Active", None, 1, ws
    )
    name = f"local_{uuid.uuid4().hex[:8]}"
    endpoint = PipelineEndpoint.publish(ws, name, "local endpoint", a)
    assert (endpoint.default_version, endpoint.status) == ("0", "Active")
    assert endpoint.endpoint.endswith(f"/mlpipe/endpoints/{endpoint.id}/submit")
    with pytest.raises(ValueError, match="already exists"):
        PipelineEndpoint.publish(ws, name, None, b)
    endpoint.add(b)
    assert [(v.version, v.pipeline_id) for v in endpoint.pipeline_version_list] == [("0", a.id), ("1", b.id)]
    assert endpoint.default_version == "0"
    endpoint.set_default_version("1")
    assert PipelineEndpoint.get(ws, name=name).default_version == "1"
    endpoint.set_default(a)
    assert PipelineEndpoint.get(ws, id=endpoint.id).get_default_version() == "0"
    with pytest.raises(ValueError, match="has no version '4'"):
        endpoint.set_default_version("4")
    with pytest.raises(ValueError, match="has no version '3'"):
        endpoint.get_pipeline("3")
    endpoint.disable()
    assert name not in [e.name for e in PipelineEndpoint.list(ws)]
    assert name in [e.name for e in PipelineEndpoint.list(ws, active_only=False)]
    with pytest.raises(ApiError) as error:
        Experiment(ws, "local_ep").submit(endpoint)
    assert error.value.status_code == 409
    endpoint.enable()
    endpoint.set_name(name + "_renamed")
    assert PipelineEndpoint.get(ws, name=name + "_renamed").id == endpoint.id
    endpoint.archive()
    assert endpoint.status == "Disabled" and endpoint.name != name + "_renamed"
    assert endpoint.reactivate(name) is endpoint and (endpoint.name, endpoint.status) == (name, "Active")
    with pytest.raises(ApiError) as error:
        PipelineEndpoint.get(ws, name="no_such_endpoint_here")
    assert error.value.status_code == 404
    with pytest.raises(ValueError, match="give the endpoint's id or name"):
        PipelineEndpoint.get(ws)
    with pytest.raises(TypeError, match="unexpected arguments"):
        Experiment(ws, "local_ep").submit(endpoint, nonsense=1)


# ---------------------------------------------------------------- a real deployment

PIPELINES = "mlpipe_ep_pipelines"
P = [f"mlpipe_ep_p{index}" for index in range(4)]

DAG_FILE = f"""
from airflow_provider_mlpipe import Pipeline, PipelineParameter, PythonScriptStep

published_dags = []  # Airflow's safe mode parses files that mention "airflow" and "dag"
for index in range(4):
    step = PythonScriptStep(
        "hello.py", name="hello", arguments=["--n", PipelineParameter("n", index)],
        source_directory="{PIPELINES}_src", allow_reuse=False,
    )
    published_dags.append(Pipeline([step]).publish(f"mlpipe_ep_p{{index}}", description=f"endpoint pipeline {{index}}", version=str(index)))
"""
HELLO = """
import sys
print("hello from n =", sys.argv[2])
"""


@pytest.fixture(scope="module")
def deployment(airflow_deployment):
    airflow_deployment.write_dag(PIPELINES, DAG_FILE, {"hello.py": HELLO})
    for dag_id in P:
        airflow_deployment.wait_for_dag(dag_id, timeout=180)
    return airflow_deployment


@pytest.fixture
def workspace(deployment):
    ws = Workspace.connect(deployment.url, username="admin", password="admin")
    yield ws
    ws.close()


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _run_conf(deployment: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    with deployment.client() as admin:
        return admin.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["conf"]


@pytest.mark.integration
@pytest.mark.deployment
def test_publish_add_and_submit_by_name_id_and_version(deployment, workspace):
    name = _unique("scoring")
    endpoint = PipelineEndpoint.publish(workspace, name, "scores", PublishedPipeline.get(workspace, P[0]))
    assert (endpoint.default_version, endpoint.status, endpoint.description) == ("0", "Active", "scores")
    assert endpoint.endpoint == f"{deployment.url}{PREFIX}/endpoints/{endpoint.id}/submit"
    assert PipelineEndpoint.get(workspace, name=name).id == endpoint.id
    assert PipelineEndpoint.get(workspace, id=endpoint.id).name == name
    assert name in [e.name for e in PipelineEndpoint.list(workspace)]
    endpoint.add(PublishedPipeline.get(workspace, P[1]))
    assert [(v.version, v.pipeline_id) for v in endpoint.pipeline_version_list] == [("0", P[0]), ("1", P[1])]
    assert endpoint.get_pipeline("1").id == P[1] and endpoint.get_pipeline().id == P[0]
    assert [(v.version, v.pipeline.id) for v in endpoint.list_versions()] == [("0", P[0]), ("1", P[1])]
    assert [p.id for p in endpoint.list_pipelines()] == [P[0], P[1]]

    # The default version, then version "1": from the client and from Experiment.submit.
    run = endpoint.submit("endpoint_exp", pipeline_parameters={"n": 7})
    assert run.pipeline_id == P[0]
    assert run.wait_for_completion(show_output=False, timeout_seconds=180) == "Finished"
    record = _run_conf(deployment, P[0], run.id)["mlpipe"]
    assert record["pipeline_endpoint"] == {"id": endpoint.id, "name": name, "version": "0"}
    assert record["experiment_name"] == "endpoint_exp"
    run = Experiment(workspace, "endpoint_exp").submit(endpoint, pipeline_version="1")
    assert run.pipeline_id == P[1]

    # Raw REST, as an external application calls it: by name or id, PipelineVersion in the body or query.
    with deployment.client() as admin:

        def submit(ref: str, params: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
            body = {"ExperimentName": "endpoint_rest", **fields}
            return admin.post(f"{PREFIX}/endpoints/{ref}/submit", json=body, params=params)

        assert submit(name).json()["PipelineId"] == P[0]
        answer = submit(endpoint.id, PipelineVersion="1").json()
        assert (answer["PipelineId"], answer["PipelineVersion"], answer["PipelineEndpointId"]) == (
            P[1],
            "1",
            endpoint.id,
        )
        assert submit(name, {"pipelineVersion": "1"}).json()["PipelineId"] == P[1]
        assert submit(name, ParameterAssignments={"n": 3}, PipelineVersion=None).json()["PipelineId"] == P[0]
        missing = submit(name, PipelineVersion="9")
        assert missing.status_code == 404 and "no version '9'" in missing.json()["detail"]
        assert submit(name, PipelineVersion="latest").status_code == 400
        assert submit(name, {"pipelineVersion": "0"}, PipelineVersion="1").status_code == 400
        assert submit(name, ParameterAssignments={"nope": 1}).status_code == 400
        assert submit("no_such_endpoint").status_code == 404

    # Switching the default: by version, by pipeline, and adding a new default.
    endpoint.set_default_version("1")
    assert endpoint.default_version == "1" and endpoint.submit("endpoint_exp").pipeline_id == P[1]
    endpoint.set_default(PublishedPipeline.get(workspace, P[0]))
    assert PipelineEndpoint.get(workspace, name=name).default_version == "0"
    endpoint.add_default(PublishedPipeline.get(workspace, P[2]))
    assert endpoint.default_version == "2"
    assert Experiment(workspace, "endpoint_exp").submit(endpoint).pipeline_id == P[2]
    with pytest.raises(ApiError) as error:
        endpoint.set_default_version("7")
    assert error.value.status_code == 404
    with pytest.raises(ApiError) as error:
        endpoint.add(PublishedPipeline.get(workspace, P[2]))
    assert error.value.status_code == 409
    with pytest.raises(ApiError) as error:
        PipelineEndpoint.publish(workspace, name, None, PublishedPipeline.get(workspace, P[3]))
    assert error.value.status_code == 409


@pytest.mark.integration
@pytest.mark.deployment
def test_a_disabled_endpoint_refuses_submits_with_409(deployment, workspace):
    name = _unique("disabled")
    endpoint = PipelineEndpoint.publish(workspace, name, None, PublishedPipeline.get(workspace, P[0]))
    endpoint.disable()
    assert endpoint.status == "Disabled"
    assert name not in [e.name for e in PipelineEndpoint.list(workspace)]
    assert name in [e.name for e in PipelineEndpoint.list(workspace, active_only=False)]
    with pytest.raises(ApiError) as error:
        endpoint.submit("endpoint_exp")
    assert error.value.status_code == 409 and "disabled" in error.value.detail
    with deployment.client() as admin:
        answer = admin.post(f"{PREFIX}/endpoints/{name}/submit", json={"ExperimentName": "e"})
    assert answer.status_code == 409
    endpoint.enable()
    assert endpoint.submit("endpoint_exp").pipeline_id == P[0]


@pytest.mark.integration
@pytest.mark.deployment
def test_versions_added_at_once_from_two_threads_get_distinct_numbers(deployment):
    admin = Workspace.connect(deployment.url, username="admin", password="admin")
    name = _unique("race")
    endpoint = PipelineEndpoint.publish(admin, name, None, PublishedPipeline.get(admin, P[0]))
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def add(pipeline_id: str) -> None:
        ws = Workspace.connect(deployment.url, username="admin", password="admin")
        try:
            mine = PipelineEndpoint.get(ws, name=name)
            ws.get_token()
            start.wait()
            mine.add(pipeline_id)
        except BaseException as error:
            errors.append(error)
        finally:
            ws.close()

    threads = [threading.Thread(target=add, args=(pipeline_id,)) for pipeline_id in P[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    versions = PipelineEndpoint.get(admin, id=endpoint.id).pipeline_version_list
    assert sorted(v.version for v in versions) == ["0", "1", "2", "3"]
    assert sorted(v.pipeline_id for v in versions) == sorted(P)
    admin.close()


@pytest.mark.integration
@pytest.mark.deployment
def test_a_viewer_reads_endpoints_but_may_not_change_or_submit_them(deployment, workspace):
    name = _unique("viewed")
    endpoint = PipelineEndpoint.publish(workspace, name, None, PublishedPipeline.get(workspace, P[0]))
    viewer = Workspace.connect(deployment.url, username="viewer", password="viewer")
    try:
        seen = PipelineEndpoint.get(viewer, name=name)
        assert seen.id == endpoint.id and name in [e.name for e in PipelineEndpoint.list(viewer)]
        for action in (
            lambda: seen.add(P[1]),
            lambda: seen.disable(),
            lambda: seen.set_default_version("0"),
            lambda: seen.submit("viewer_exp"),
            lambda: PipelineEndpoint.publish(viewer, _unique("nope"), None, P[1]),
        ):
            with pytest.raises(ApiError) as error:
                action()
            assert error.value.status_code == 403, error.value
    finally:
        viewer.close()
    # The monitoring page's list, read with the viewer's session cookie as the browser does.
    cookie = {"_token": deployment.token("viewer", "viewer")}
    with httpx.Client(base_url=deployment.url, cookies=cookie, timeout=30) as browser:
        listed = browser.get(f"{PREFIX}/monitor/api/endpoints").json()["endpoints"]
    [shown] = [e for e in listed if e["name"] == name]
    assert shown["versions"] == [{"version": "0", "pipeline_id": P[0], "is_default": True}]
    with httpx.Client(base_url=deployment.url, timeout=30) as anonymous:
        assert anonymous.get(f"{PREFIX}/monitor/api/endpoints").status_code == 401
        assert anonymous.get(f"{PREFIX}/endpoints").status_code == 401
        assert (
            anonymous.post(f"{PREFIX}/endpoints/{name}/submit", json={"ExperimentName": "e"}).status_code
            == 401
        )


@pytest.mark.integration
def test_local_submit_runs_the_versions_pipeline_published_in_this_process(tmp_path):
    from airflow_provider_mlpipe import Pipeline, PipelineParameter, PythonScriptStep

    (tmp_path / "hello.py").write_text(HELLO)
    published = []
    for index in range(2):
        step = PythonScriptStep(
            "hello.py",
            name="hello",
            arguments=["--n", PipelineParameter("n", index)],
            source_directory=str(tmp_path),
            allow_reuse=False,
        )
        published.append(Pipeline([step]).publish(f"mlpipe_local_ep_{uuid.uuid4().hex[:6]}_{index}"))
    ws = Workspace.local()
    endpoint = PipelineEndpoint.publish(ws, _unique("local_run"), None, published[0])
    endpoint.add(published[1])
    run = Experiment(ws, "local_endpoint").submit(
        endpoint, pipeline_version="1", pipeline_parameters={"n": 5}
    )
    assert run.pipeline_id == published[1].id
    assert run.wait_for_completion(show_output=False, timeout_seconds=180) == "Finished"
    assert "hello from n = 5" in run.find_step_run("hello")[0].get_log()
    run = endpoint.submit("local_endpoint")
    assert run.pipeline_id == published[0].id
    assert run.wait_for_completion(show_output=False, timeout_seconds=180) == "Finished"
