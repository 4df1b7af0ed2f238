"""The `/mlpipe` FastAPI app: v1's published-pipeline REST contract on Airflow's own machinery.

Every route authenticates with Airflow's bearer token (the API server's `/auth/token`) and
asks Airflow's auth manager, exactly as Airflow's public API does: no token is 401, a user
who may not do it is 403. Runs are created the way Airflow's own trigger endpoint does.
Every route also gets `guards.py`'s input limits and cross-site request forgery protection.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError

from airflow_provider_mlpipe.api import limits
from airflow_provider_mlpipe.api.catalog import add_catalog
from airflow_provider_mlpipe.api.dags import (
    GetUserDep,
    dag_allowed,
    published_record,
    set_published_paused,
    tagged_dags,
)
from airflow_provider_mlpipe.api.endpoints import add_endpoints
from airflow_provider_mlpipe.api.guards import (
    DagIdPath,
    InputGuard,
    RunIdPath,
    bad_request,
    refuse_cookie_only_writes,
)
from airflow_provider_mlpipe.api.monitor import add_monitor
from airflow_provider_mlpipe.api.runs import run_details, run_summary
from airflow_provider_mlpipe.api.schedules import add_schedules
from airflow_provider_mlpipe.api.submit import start_run
from airflow_provider_mlpipe.contract import PUBLISHED_TAG, RUN_RECORD_KEY


def _authorize(user: Any, dag_id: str, method: str, run: bool) -> None:
    if not dag_allowed(user, dag_id, method, "RUN" if run else None):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"not allowed to {method} pipeline {dag_id!r}")


def _published(session: Any, name: str | None = None) -> list[Any]:
    """Published pipelines (DAGs tagged by `Pipeline.publish`), or the one called `name`."""
    return tagged_dags(session, PUBLISHED_TAG, name)


def _api_root(request: Request) -> str:
    """This app's URL as the caller sees it (the api-server's base plus the /mlpipe mount)."""
    root_path = request.scope.get("root_path", "")
    base = str(request.base_url).rstrip("/")
    return base if base.endswith(root_path) else base + root_path


def _pipeline_json(model: Any, request: Request) -> dict[str, Any]:
    return published_record(model, _api_root(request))


def _one_published(session: Any, name: str) -> Any:
    found = _published(session, name)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no published pipeline {name!r}")
    return found[0]


def _published_run(session: Any, run_id: str) -> Any:
    """The run `run_id` of a published pipeline (404 when there is none)."""
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    names = [m.dag_id for m in _published(session)]
    run = session.scalars(select(DagRun).where(DagRun.run_id == run_id, DagRun.dag_id.in_(names))).first()
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id!r} of a published pipeline")
    return run


def create_app() -> FastAPI:
    """The sub-application the plugin mounts under `/mlpipe` in `airflow api-server`."""
    # App-wide, so that every route, including one added later, is guarded the same way.
    app = FastAPI(
        title="mlpipe published pipelines",
        description=__doc__,
        dependencies=[Depends(refuse_cookie_only_writes)],
    )
    app.add_middleware(InputGuard)
    app.add_exception_handler(RequestValidationError, bad_request)

    @app.get("/pipelines")
    def list_pipelines(request: Request, user: GetUserDep, active_only: bool = False) -> dict[str, Any]:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.utils.session import create_session

        # Ask the auth manager first: it may use (and close) the same scoped DB session.
        permitted = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
        with create_session() as session:
            models = _published(session)
            pipelines = [_pipeline_json(m, request) for m in models if m.dag_id in permitted]
        if active_only:
            pipelines = [p for p in pipelines if p["Status"] == "Active"]
        return {"Pipelines": sorted(pipelines, key=lambda p: p["Name"])}

    @app.post("/pipelines/{name}/submit")
    def submit(
        name: DagIdPath, request: Request, user: GetUserDep, body: Annotated[Any, Body()] = None
    ) -> dict[str, Any]:
        from airflow.utils.session import create_session

        _authorize(user, name, "POST", run=True)
        with create_session() as session:
            return start_run(session, name, body, user, _api_root(request))

    def set_paused(name: str, user: Any, paused: bool, request: Request) -> dict[str, Any]:
        from airflow.utils.session import create_session

        _authorize(user, name, "PUT", run=False)
        with create_session() as session:
            model = _one_published(session, name)
            set_published_paused(session, model, paused)
            return _pipeline_json(model, request)

    @app.post("/pipelines/{name}/enable")
    def enable(name: DagIdPath, request: Request, user: GetUserDep) -> dict[str, Any]:
        return set_paused(name, user, False, request)

    @app.post("/pipelines/{name}/disable")
    def disable(name: DagIdPath, request: Request, user: GetUserDep) -> dict[str, Any]:
        return set_paused(name, user, True, request)

    @app.get("/runs")
    def list_runs(
        user: GetUserDep,
        experiment_name: Annotated[str | None, Query(max_length=limits.MAX_QUERY_CHARS)] = None,
        limit: Annotated[int, Query(ge=1, le=limits.MAX_RUNS_LIMIT)] = 100,
    ) -> dict[str, Any]:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        permitted = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
        with create_session() as session:
            names = [m.dag_id for m in _published(session) if m.dag_id in permitted]
            query = (
                select(DagRun).where(DagRun.dag_id.in_(names)).order_by(DagRun.id.desc()).limit(10 * limit)
            )
            runs = []
            for run in session.scalars(query):
                record = (run.conf or {}).get(RUN_RECORD_KEY) or {}
                if experiment_name is None or record.get("experiment_name") == experiment_name:
                    runs.append(run_summary(run))
            return {"Runs": runs[:limit]}

    @app.get("/runs/{run_id}")
    def get_run(run_id: RunIdPath, user: GetUserDep) -> dict[str, Any]:
        from airflow.utils.session import create_session

        with create_session() as session:
            run = _published_run(session, run_id)
            _authorize(user, run.dag_id, "GET", run=True)
            return run_details(session, run)

    @app.post("/runs/{run_id}/cancel")
    def cancel(run_id: RunIdPath, user: GetUserDep) -> dict[str, Any]:
        """v1's `PipelineRun.cancel()`: 200 with the run, Canceled (even if it already was); 409 if ended."""
        from airflow.utils.session import create_session

        from airflow_provider_mlpipe.api.cancel import RunAlreadyEnded, cancel_run

        with create_session() as session:
            run = _published_run(session, run_id)
            _authorize(user, run.dag_id, "PUT", run=True)
            try:
                cancel_run(session, run, user.get_name())
            except RunAlreadyEnded as error:
                raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
            return run_details(session, run)

    add_monitor(app)
    add_schedules(app)
    add_endpoints(app)
    add_catalog(app)
    return app
