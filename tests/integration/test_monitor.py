"""The "ML pipelines" monitoring page and its JSON API, on a real api-server + scheduler.

One pipeline runs twice: the second run changes a parameter only the second step reads, so
its first step is a reuse hit and its second a miss. The API must show each step's state,
reuse decision and source, output locations and metrics as the scripts logged them.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

PIPELINE = "mlpipe_monitored"
PLAIN_DAG = "mlpipe_monitor_plain_dag"
RUNS_URL = f"/mlpipe/monitor/api/pipelines/{PIPELINE}/runs"

DAG_FILE = f"""
from airflow_provider_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep

model = PipelineData("model")
report = PipelineData("report")
fit = PythonScriptStep(
    "fit.py", name="fit", arguments=["--out", model], outputs=[model], source_directory="{PIPELINE}_src",
)
score = PythonScriptStep(
    "score.py", name="score", arguments=["--model", model, "--rounds", PipelineParameter("rounds", 2),
    "--out", report], inputs=[model], outputs=[report], source_directory="{PIPELINE}_src",
)
dag = Pipeline([fit, score]).to_dag("{PIPELINE}")
"""

FIT = """
import json, os, sys
from airflow_provider_mlpipe import Run

out = sys.argv[sys.argv.index("--out") + 1]
os.makedirs(out, exist_ok=True)
json.dump({"weights": [0.25, 0.75]}, open(os.path.join(out, "model.json"), "w"))
run = Run.get_context()
run.log("accuracy", 0.875)
run.log_list("loss", [0.9, 0.5, 0.25])
run.log_row("per_class", label="a", recall=1.0)
run.log_row("per_class", label="b", recall=0.75)
"""

SCORE = """
import json, os, sys
from airflow_provider_mlpipe import Run

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
weights = json.load(open(os.path.join(args["--model"], "model.json")))["weights"]
rounds = int(args["--rounds"])
os.makedirs(args["--out"], exist_ok=True)
open(os.path.join(args["--out"], "report.txt"), "w").write(f"rounds={rounds}")
Run.get_context().log("score", sum(weights) * rounds)
Run.get_context().log("rounds", rounds)
"""

PLAIN = f"""
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("{PLAIN_DAG}", schedule=None, tags=["not-a-pipeline"]):
    EmptyOperator(task_id="nothing")
"""


@pytest.fixture(scope="module")
def two_runs(airflow_deployment) -> tuple[Any, str, str]:
    """The pipeline run with rounds=2, then with rounds=3 (fit reused, score run again)."""
    deployment = airflow_deployment
    deployment.write_dag(PLAIN_DAG, PLAIN)
    deployment.write_dag(
        PIPELINE,
        textwrap.dedent(DAG_FILE),
        {"fit.py": textwrap.dedent(FIT), "score.py": textwrap.dedent(SCORE)},
    )
    deployment.wait_for_dag(PIPELINE, timeout=180)
    deployment.wait_for_dag(PLAIN_DAG, timeout=180)
    run_ids = []
    for rounds in (2, 3):
        run_id = deployment.trigger(PIPELINE, {"rounds": rounds})["dag_run_id"]
        final = deployment.wait_for_run(PIPELINE, run_id, timeout=240)
        assert final["state"] == "success", deployment.task_states(PIPELINE, run_id)
        run_ids.append(run_id)
    return deployment, run_ids[0], run_ids[1]


def _steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["task_id"]: step for step in run["steps"]}


def _local_path(uri: str) -> Path:
    assert uri.startswith("file://"), uri
    return Path(uri.removeprefix("file://"))


@pytest.mark.integration
@pytest.mark.deployment
def test_runs_show_each_steps_state_reuse_outputs_and_metrics(two_runs):
    deployment, first, second = two_runs
    with deployment.client("admin", "admin") as admin:
        answer = admin.get(RUNS_URL)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["hidden"] == [] and data["pipeline"]["dag_id"] == PIPELINE
    assert [run["run_id"] for run in data["runs"]] == [second, first]
    newest, oldest = data["runs"]
    assert (oldest["params"], newest["params"]) == ({"rounds": 2}, {"rounds": 3})
    assert oldest["state"] == newest["state"] == "success"

    old_steps, new_steps = _steps(oldest), _steps(newest)
    assert sorted(new_steps) == ["fit", "score"]
    assert all(step["state"] == "success" for step in [*old_steps.values(), *new_steps.values()])
    assert old_steps["fit"]["reuse"]["decision"] == "miss" and old_steps["fit"]["reuse"]["source"] is None
    assert new_steps["fit"]["reuse"]["decision"] == "hit"
    source = new_steps["fit"]["reuse"]["source"]
    assert (source["dag_id"], source["run_id"], source["task_id"]) == (PIPELINE, first, "fit")
    assert new_steps["score"]["reuse"]["decision"] == "miss"

    # Outputs: where the data is; the reused step hands on the first run's model.
    fit_model = old_steps["fit"]["outputs"]["model"]
    assert new_steps["fit"]["outputs"]["model"] == fit_model
    assert json.loads((_local_path(fit_model["uri"]) / "model.json").read_text()) == {"weights": [0.25, 0.75]}
    reports = {_steps(run)["score"]["outputs"]["report"]["path_on_datastore"] for run in (oldest, newest)}
    assert len(reports) == 2  # score ran in each run: two places
    for run, rounds in ((oldest, 2), (newest, 3)):
        report = _steps(run)["score"]["outputs"]["report"]
        assert report["datastore"] == "mlpipe_default"
        assert report["path_on_datastore"].startswith(f"mlpipe/{PIPELINE}/manual__")
        assert report["path_on_datastore"].endswith("/score/report")
        assert (_local_path(report["uri"]) / "report.txt").read_text() == f"rounds={rounds}"

    # Metrics in v1's get_metrics() shape; a reused step shows the metrics of the run it reuses.
    fit_metrics = {
        "accuracy": 0.875,
        "loss": [0.9, 0.5, 0.25],
        "per_class": {"label": ["a", "b"], "recall": [1.0, 0.75]},
    }
    assert old_steps["fit"]["metrics"] == new_steps["fit"]["metrics"] == fit_metrics
    assert old_steps["score"]["metrics"] == {"score": 2.0, "rounds": 2}
    assert new_steps["score"]["metrics"] == {"score": 3.0, "rounds": 3}


@pytest.mark.integration
@pytest.mark.deployment
def test_pipelines_are_the_mlpipe_dags_with_their_latest_run(two_runs):
    deployment, _, second = two_runs
    for user in ("admin", "viewer", "op"):  # SimpleAuthManager lets every role read every DAG
        with deployment.client(user, user) as client:
            answer = client.get("/mlpipe/monitor/api/pipelines")
        assert answer.status_code == 200, (user, answer.text)
        listed = {p["dag_id"]: p for p in answer.json()["pipelines"]}
        assert PLAIN_DAG not in listed, user
        assert listed[PIPELINE]["latest_run"]["run_id"] == second
        assert listed[PIPELINE]["latest_run"]["state"] == "success"
        assert listed[PIPELINE]["latest_run"]["run_after"] is not None  # how the page picks the latest
        assert "mlpipe" in listed[PIPELINE]["tags"] and listed[PIPELINE]["published"] is False
    with deployment.client("admin", "admin") as admin:
        assert admin.get(f"/mlpipe/monitor/api/pipelines/{PLAIN_DAG}/runs").status_code == 404


@pytest.mark.integration
@pytest.mark.deployment
def test_data_needs_an_airflow_login_and_the_session_cookie_is_one(two_runs):
    deployment, _, _ = two_runs
    with httpx.Client(base_url=deployment.url, timeout=30) as anonymous:
        for path in ("/mlpipe/monitor/api/pipelines", RUNS_URL):
            answer = anonymous.get(path)
            assert answer.status_code == 401, (path, answer.text)
        # The page itself holds no data: it loads, and its fetches then answer 401.
        page = anonymous.get("/mlpipe/monitor/")
        assert page.status_code == 200 and "<title>ML pipelines</title>" in page.text
        assert anonymous.get("/mlpipe/monitor/static/monitor.js").status_code == 200
        assert (
            anonymous.get("/mlpipe/monitor", follow_redirects=False)
            .headers["location"]
            .endswith("/mlpipe/monitor/")
        )
    # What the page's fetch() sends in the browser: Airflow's session cookie, no header.
    cookie = {"_token": deployment.token("viewer", "viewer")}
    with httpx.Client(base_url=deployment.url, cookies=cookie, timeout=30) as browser_like:
        answer = browser_like.get(RUNS_URL)
        assert answer.status_code == 200 and len(answer.json()["runs"]) == 2
    with httpx.Client(base_url=deployment.url, cookies={"_token": "not-a-jwt"}, timeout=30) as forged:
        assert forged.get("/mlpipe/monitor/api/pipelines").status_code in (401, 403)


@pytest.mark.integration
@pytest.mark.deployment
def test_the_page_is_in_the_airflow_ui_navigation(airflow_deployment):
    with airflow_deployment.client("admin", "admin") as admin:
        plugins = admin.get("/api/v2/plugins").json()["plugins"]
    [mlpipe] = [p for p in plugins if p["name"] == "mlpipe"]
    [view] = mlpipe["external_views"]
    assert view["name"] == "ML pipelines" and view["destination"] == "nav"
    assert view["href"] == "mlpipe/monitor/" and view["url_route"] == "ml-pipelines"
    with httpx.Client(base_url=airflow_deployment.url, timeout=30) as anonymous:
        icon = anonymous.get("/" + view["icon"])
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


# ---------------------------------------------------------------- auth manager decisions, in-process


class _StubAuthManager:
    """Lets the user read the DAGs in `readable`, and of those only the entities in `entities`."""

    def __init__(self, readable: set[str], entities: set[str]) -> None:
        self.readable, self.entities = readable, entities

    def get_authorized_dag_ids(self, *, user: Any, method: str = "GET", session: Any = None) -> set[str]:
        return set(self.readable)

    def is_authorized_dag(
        self, *, method: str, access_entity: Any = None, details: Any = None, user: Any
    ) -> bool:
        entity = access_entity.name if access_entity is not None else None
        return details.id in self.readable and (entity is None or entity in self.entities)


@pytest.fixture
def pipelines_in_db():
    """Two pipeline DAGs (tagged "mlpipe") in the test DB, the first with one run (no tasks)."""
    from airflow._shared.timezones import timezone
    from airflow.models.dag import DagModel, DagTag
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    names = ["mlpipe_monitor_visible", "mlpipe_monitor_secret"]
    with create_session() as session:
        if session.get(DagBundleModel, "mlpipe-monitor-test") is None:
            session.add(DagBundleModel(name="mlpipe-monitor-test"))
            session.flush()
        for name in names:
            if session.get(DagModel, name) is None:
                session.add(DagModel(dag_id=name, bundle_name="mlpipe-monitor-test", is_stale=False))
                session.flush()
                session.add(DagTag(name="mlpipe", dag_id=name))
        if session.query(DagRun).filter(DagRun.dag_id == names[0]).first() is None:
            now = timezone.utcnow()
            session.add(
                DagRun(
                    names[0],
                    "manual__monitor",
                    run_after=now,
                    start_date=now,
                    conf={"n": 1},
                    state="success",
                    run_type="manual",
                )
            )
    yield names
    with create_session() as session:
        for name in names:
            session.query(DagRun).filter(DagRun.dag_id == name).delete()
            session.query(DagTag).filter(DagTag.dag_id == name).delete()
            session.query(DagModel).filter(DagModel.dag_id == name).delete()


def _client(monkeypatch: pytest.MonkeyPatch, stub: _StubAuthManager):
    import airflow.api_fastapi.app as airflow_app
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from airflow_provider_mlpipe.api.app import create_app

    monkeypatch.setattr(airflow_app, "get_auth_manager", lambda: stub)
    app = create_app()
    app.dependency_overrides[get_user] = lambda: object()
    return TestClient(app)


@pytest.mark.integration
def test_a_user_sees_only_the_pipelines_the_auth_manager_lets_them_read(monkeypatch, pipelines_in_db):
    visible, secret = pipelines_in_db
    stub = _StubAuthManager({visible}, {"RUN", "TASK_INSTANCE", "XCOM"})
    client = _client(monkeypatch, stub)
    listed = [p["dag_id"] for p in client.get("/monitor/api/pipelines").json()["pipelines"]]
    assert visible in listed and secret not in listed
    assert client.get(f"/monitor/api/pipelines/{secret}/runs").status_code == 403
    answer = client.get(f"/monitor/api/pipelines/{visible}/runs")
    assert answer.status_code == 200 and answer.json()["hidden"] == []
    [run] = answer.json()["runs"]
    assert run["run_id"] == "manual__monitor" and run["params"] == {"n": 1} and run["steps"] == []


@pytest.mark.integration
def test_what_the_user_may_not_read_of_a_pipeline_is_hidden(monkeypatch, pipelines_in_db):
    visible, _ = pipelines_in_db
    no_xcom = _client(monkeypatch, _StubAuthManager({visible}, {"RUN", "TASK_INSTANCE"}))
    assert no_xcom.get(f"/monitor/api/pipelines/{visible}/runs").json()["hidden"] == ["xcoms"]
    no_tasks = _client(monkeypatch, _StubAuthManager({visible}, {"RUN"}))
    answer = no_tasks.get(f"/monitor/api/pipelines/{visible}/runs").json()
    assert answer["hidden"] == ["steps", "xcoms"] and answer["runs"][0]["steps"] is None
    no_runs = _client(monkeypatch, _StubAuthManager({visible}, set()))
    assert no_runs.get(f"/monitor/api/pipelines/{visible}/runs").status_code == 403
