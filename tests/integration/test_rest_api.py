"""v1's published-pipeline REST contract, against a real `airflow api-server` + scheduler."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

PIPELINE = "mlpipe_rest_published"

DAG_FILE = f"""
from airflow_provider_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep

out = PipelineData("out")
step = PythonScriptStep(
    "echo.py", name="echo", arguments=["--arg", PipelineParameter("pipeline_arg", 10), "--label",
    PipelineParameter("label", "none"), "--rate", PipelineParameter("rate", 0.5), "--out", out],
    outputs=[out], source_directory="{PIPELINE}_src",
)
dag = Pipeline([step]).publish("{PIPELINE}", description="REST test pipeline", version="1.0")
"""

ECHO = """
import json, os, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
os.makedirs(args["--out"], exist_ok=True)
json.dump(args, open(os.path.join(args["--out"], "args.json"), "w"))
"""


@pytest.fixture(scope="module")
def published(airflow_deployment):
    airflow_deployment.write_dag(PIPELINE, textwrap.dedent(DAG_FILE), {"echo.py": textwrap.dedent(ECHO)})
    airflow_deployment.wait_for_dag(PIPELINE, timeout=120)
    return airflow_deployment


def submit(client: httpx.Client, body: dict, name: str = PIPELINE) -> httpx.Response:
    return client.post(f"/mlpipe/pipelines/{name}/submit", json=body)


def test_submit_with_parameters_runs_with_those_values(published):
    admin = published.client("admin", "admin")
    answer = submit(
        admin,
        {
            "ExperimentName": "rest_exp",
            "ParameterAssignments": {"pipeline_arg": 20, "label": "hi"},
            "Tags": {"k": "v"},
        },
    )
    assert answer.status_code == 200, answer.text
    run_id = answer.json()["Id"]
    final = published.wait_for_run(PIPELINE, run_id, timeout=180)
    assert final["state"] == "success", final
    run = admin.get(f"/mlpipe/runs/{run_id}").json()
    assert (
        run["Status"] == "Finished"
        and run["ExperimentName"] == "rest_exp"
        and run["PipelineVersion"] == "1.0"
    )
    assert run["ParameterAssignments"] == {"pipeline_arg": 20, "label": "hi"}
    [step] = run["Steps"]
    assert step["Name"] == "echo" and step["Status"] == "Finished" and step["Reused"] is False
    record = step["Outputs"]["out"]
    args = json.loads(Path(record["uri"].removeprefix("file://"), "args.json").read_text())
    assert (args["--arg"], args["--label"]) == ("20", "hi")
    listed = admin.get("/mlpipe/runs", params={"experiment_name": "rest_exp"}).json()["Runs"]
    assert [r["Id"] for r in listed] == [run_id]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"ExperimentName": "e", "ParameterAssignments": {"nope": 1}}, 400, "no parameter 'nope'"),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"pipeline_arg": "x"}},
            400,
            "'pipeline_arg' must be of type integer",
        ),
        ({"ExperimentName": "e", "ParameterAssignments": {"label": "a\nb"}}, 400, "multi-line"),
    ],
)
def test_bad_requests_name_the_parameter(published, body, status, words):
    answer = submit(published.client("admin", "admin"), body)
    assert answer.status_code == status and words in answer.json()["detail"]


def test_unknown_pipeline_is_404_and_auth_is_airflows(published):
    admin = published.client("admin", "admin")
    assert submit(admin, {"ExperimentName": "e"}, name="no_such_pipeline").status_code == 404
    anonymous = httpx.Client(base_url=published.url)
    assert submit(anonymous, {"ExperimentName": "e"}).status_code == 401
    assert anonymous.get("/mlpipe/pipelines").status_code == 401
    viewer = published.client("viewer", "viewer")
    assert submit(viewer, {"ExperimentName": "e"}).status_code == 403
    assert viewer.post(f"/mlpipe/pipelines/{PIPELINE}/disable").status_code == 403
    assert PIPELINE in [p["Name"] for p in viewer.get("/mlpipe/pipelines").json()["Pipelines"]]


def test_disable_and_enable(published):
    admin = published.client("admin", "admin")
    assert admin.post(f"/mlpipe/pipelines/{PIPELINE}/disable").json()["Status"] == "Disabled"
    try:
        assert submit(admin, {"ExperimentName": "e"}).status_code == 409
        [entry] = [p for p in admin.get("/mlpipe/pipelines").json()["Pipelines"] if p["Name"] == PIPELINE]
        assert entry["Status"] == "Disabled" and entry["Version"] == "1.0"
        active = admin.get("/mlpipe/pipelines", params={"active_only": True}).json()["Pipelines"]
        assert PIPELINE not in [p["Name"] for p in active]
    finally:
        assert admin.post(f"/mlpipe/pipelines/{PIPELINE}/enable").json()["Status"] == "Active"
    assert entry["Endpoint"].endswith(f"/mlpipe/pipelines/{PIPELINE}/submit")


# ------------------------------------------------------------------ hostile input is a 4xx, never a 500

JSON = {"Content-Type": "application/json"}
SUBMIT = f"/mlpipe/pipelines/{PIPELINE}/submit"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        # Python's json reads these literals; JSON has no such numbers and PostgreSQL refuses them.
        (
            "POST",
            SUBMIT,
            '{"ExperimentName": "e", "ParameterAssignments": {"rate": NaN}}',
            400,
            "ParameterAssignments['rate']: NaN is not a finite number",
        ),
        (
            "POST",
            SUBMIT,
            '{"ExperimentName": "e", "ParameterAssignments": {"rate": -Infinity}}',
            400,
            "-Infinity is not a finite number",
        ),
        ("POST", SUBMIT, '{"ExperimentName": "e", "ParameterAssignments": {"rate": 1e999}}', 400, "Infinity"),
        ("POST", SUBMIT, '{"ExperimentName": "e", "RunSource": NaN}', 400, "RunSource: NaN"),
        # Sizes: the body as a whole, then each field.
        (
            "POST",
            SUBMIT,
            json.dumps({"ExperimentName": "e", "Description": "x" * 5_000_000}),
            413,
            "larger than",
        ),
        (
            "POST",
            SUBMIT,
            json.dumps({"ExperimentName": "e", "Description": "x" * 1001}),
            400,
            "Description has 1001 characters; at most 1000",
        ),
        ("POST", SUBMIT, json.dumps({"ExperimentName": "e" * 300}), 400, "ExperimentName"),
        (
            "POST",
            SUBMIT,
            '{"ExperimentName": "e", "Tags": ' + "[" * 5000 + "]" * 5000 + "}",
            400,
            "nested deeper",
        ),
        # What PostgreSQL cannot store in text: NUL, lone surrogates; in the body or in the path.
        ("POST", SUBMIT, '{"ExperimentName": "e", "Description": "a\\u0000b"}', 400, "NUL character"),
        (
            "POST",
            SUBMIT,
            '{"ExperimentName": "e", "ParameterAssignments": {"label": "a\\u0000"}}',
            400,
            "NUL",
        ),
        ("POST", SUBMIT, '{"ExperimentName": "e", "Description": "\\ud800"}', 400, "lone surrogate"),
        ("POST", "/mlpipe/pipelines/a%00b/submit", '{"ExperimentName": "e"}', 400, "NUL character (%00)"),
        ("POST", "/mlpipe/pipelines/a%00b/enable", "{}", 400, "NUL character"),
        ("POST", "/mlpipe/pipelines/a%00b/disable", "{}", 400, "NUL character"),
        ("POST", "/mlpipe/pipelines/a%20b/disable", "{}", 400, "path name: String should match pattern"),
        ("POST", f"/mlpipe/pipelines/{'a' * 5000}/submit", '{"ExperimentName": "e"}', 400, "at most 250"),
        ("GET", "/mlpipe/runs/a%00b", None, 400, "NUL character"),
        ("POST", "/mlpipe/runs/a%00b/cancel", "{}", 400, "NUL character"),
        ("GET", "/mlpipe/runs/a%09b", None, 400, "path run_id"),
        ("GET", "/mlpipe/runs?experiment_name=a%00", None, 400, "NUL character"),
        ("GET", "/mlpipe/monitor/api/pipelines/a%00b/runs", None, 400, "NUL character"),
        ("GET", "/mlpipe/monitor/api/pipelines/a%20b/runs", None, 400, "path dag_id"),
        ("GET", "/mlpipe/runs?limit=-5", None, 400, "query limit"),
        ("GET", "/mlpipe/runs?limit=1000000000000000000", None, 400, "query limit"),
    ],
)
def test_hostile_input_is_refused_with_a_4xx_and_the_connection_lives(
    published, method, path, body, status, words
):
    with published.client("admin", "admin") as admin:
        runs_before = run_ids(admin)
        answer = admin.request(method, path, content=body, headers=JSON if body is not None else {})
        assert (answer.status_code, words in answer.json()["detail"]) == (status, True), answer.text[:500]
        # The same keep-alive connection still answers, and nothing was created.
        assert run_ids(admin) == runs_before


def test_the_limits_are_inclusive_over_http(published):
    body = {
        "ExperimentName": "e" * 255,
        "Description": "d" * 1000,
        "Tags": {"k": "v" * 1000},
        "ParameterAssignments": {"rate": 1.5, "label": "é" * 100},
    }
    with published.client("admin", "admin") as admin:
        answer = submit(admin, body)
        assert answer.status_code == 200, answer.text
        run = admin.get(f"/mlpipe/runs/{answer.json()['Id']}").json()
    assert run["Description"] == "d" * 1000 and run["ParameterAssignments"]["rate"] == 1.5


# ------------------------------------------------------------------ no state change on the session cookie alone

FOREIGN_ORIGIN = "http://attacker.example"


def _ui_login_cookie(deployment) -> dict[str, str]:
    """What the UI's login form does: `POST /auth/token` with JSON, then keep the token as the `_token` cookie."""
    answer = httpx.post(
        f"{deployment.url}/auth/token", json={"username": "admin", "password": "admin"}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return {"_token": answer.json()["access_token"]}


def _is_paused(deployment, dag_id: str) -> bool:
    with deployment.client("admin", "admin") as admin:
        return admin.get(f"/api/v2/dags/{dag_id}").json()["is_paused"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", "x=1"),  # an HTML <form method=post>
        ("text/plain", '{"ExperimentName": "e"}'),  # <form enctype=text/plain> or fetch(no-cors)
        ("multipart/form-data; boundary=b", "--b--"),
        (None, '{"ExperimentName": "e"}'),  # fetch(no-cors) with a Blob body: no Content-Type at all
    ],
)
def test_a_cross_site_post_with_only_the_session_cookie_changes_nothing(published, content_type, body):
    cookie = _ui_login_cookie(published)
    headers = {"Origin": FOREIGN_ORIGIN, "Referer": FOREIGN_ORIGIN + "/"}
    if content_type:
        headers["Content-Type"] = content_type
    assert _is_paused(published, PIPELINE) is False
    with httpx.Client(base_url=published.url, cookies=cookie, timeout=30) as browser:
        runs_before = run_ids(browser)  # the cookie is a valid login
        for action in ("disable", "submit"):
            answer = browser.post(f"/mlpipe/pipelines/{PIPELINE}/{action}", content=body, headers=headers)
            assert answer.status_code == 403, (action, answer.text)
            assert "Content-Type: application/json" in answer.json()["detail"]
        assert _is_paused(published, PIPELINE) is False
        assert run_ids(browser) == runs_before


def test_json_with_the_cookie_from_the_uis_own_origin_and_a_bearer_token_still_work(published):
    cookie = _ui_login_cookie(published)
    same_origin = {"Origin": published.url, "Content-Type": "application/json"}
    with httpx.Client(base_url=published.url, cookies=cookie, timeout=30) as page:
        try:
            answer = page.post(f"/mlpipe/pipelines/{PIPELINE}/disable", content="{}", headers=same_origin)
            assert answer.status_code == 200 and answer.json()["Status"] == "Disabled", answer.text
            assert _is_paused(published, PIPELINE) is True
            # No body at all, but JSON said: a cross-site page cannot send that without a CORS preflight.
            answer = page.post(f"/mlpipe/pipelines/{PIPELINE}/enable", headers=same_origin)
            assert answer.status_code == 200 and answer.json()["Status"] == "Active", answer.text
        finally:
            with published.client("admin", "admin") as admin:  # bearer token, no body, no Content-Type
                assert admin.post(f"/mlpipe/pipelines/{PIPELINE}/enable").json()["Status"] == "Active"
    assert _is_paused(published, PIPELINE) is False


def run_ids(client) -> list[str]:
    """The runs of published pipelines by id (their states move on while a test looks: ids do not)."""
    return [run["Id"] for run in client.get("/mlpipe/runs").json()["Runs"]]
