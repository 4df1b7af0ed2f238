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
from airflow_provider_mlpipe.api.dags import GetUserDep, dag_allowed, tagged_dags
from airflow_provider_mlpipe.api.guards import (
    DagIdPath,
    InputGuard,
    RunIdPath,
    bad_request,
    refuse_cookie_only_writes,
)
from airflow_provider_mlpipe.api.monitor import add_monitor
from airflow_provider_mlpipe.api.payload import PayloadError, check_submission, v1_status
from airflow_provider_mlpipe.api.runs import run_details, run_summary
from airflow_provider_mlpipe.contract import PUBLISHED_TAG, RUN_RECORD_KEY, VERSION_TAG_PREFIX


def _authorize(user: Any, dag_id: str, method: str, run: bool) -> None:
    if not dag_allowed(user, dag_id, method, "RUN" if run else None):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"not allowed to {method} pipeline {dag_id!r}")


def _published(session: Any, name: str | None = None) -> list[Any]:
    """Published pipelines (DAGs tagged by `Pipeline.publish`), or the one called `name`."""
    return tagged_dags(session, PUBLISHED_TAG, name)


def _version(model: Any) -> str | None:
    for tag in model.tags or []:
        if tag.name.startswith(VERSION_TAG_PREFIX):
            return tag.name[len(VERSION_TAG_PREFIX) :]
    return None


def _api_root(request: Request) -> str:
    """This app's URL as the caller sees it (the api-server's base plus the /mlpipe mount)."""
    root_path = request.scope.get("root_path", "")
    base = str(request.base_url).rstrip("/")
    return base if base.endswith(root_path) else base + root_path


def _pipeline_json(model: Any, request: Request) -> dict[str, Any]:
    base = _api_root(request)
    return {
        "Id": model.dag_id,
        "Name": model.dag_id,
        "Description": model.description,
        "Version": _version(model),
        "Status": "Disabled" if model.is_paused else "Active",
        "Endpoint": f"{base}/pipelines/{model.dag_id}/submit",
    }


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


def _param_types(dag: Any) -> dict[str, Any]:
    types = {}
    for name, param in dag.params.items():
        schema = (
            getattr(param, "schema", None) or (param.get("schema") if isinstance(param, dict) else {}) or {}
        )
        types[name] = schema.get("type")
    return types


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
        from airflow.models.dagbag import DBDagBag
        from airflow.utils.session import create_session
        from airflow.utils.state import DagRunState
        from airflow.utils.types import DagRunTriggeredByType, DagRunType

        _authorize(user, name, "POST", run=True)
        with create_session() as session:
            model = _one_published(session, name)
            if model.is_paused:
                raise HTTPException(status.HTTP_409_CONFLICT, f"pipeline {name!r} is disabled")
            dag = DBDagBag().get_latest_version_of_dag(name, session=session)
            if dag is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no published pipeline {name!r}")
            try:
                submission = check_submission(body, _param_types(dag), name, _version(model))
            except PayloadError as error:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
            from airflow._shared.timezones import timezone

            now = timezone.utcnow()
            try:
                run = dag.create_dagrun(
                    run_id=dag.timetable.generate_run_id(
                        run_type=DagRunType.MANUAL, run_after=now, data_interval=None
                    ),
                    logical_date=None,
                    data_interval=None,
                    run_after=now,
                    conf=submission.conf,
                    run_type=DagRunType.MANUAL,
                    triggered_by=DagRunTriggeredByType.REST_API,
                    triggering_user_name=user.get_name(),
                    state=DagRunState.QUEUED,
                    session=session,
                )
            except ValueError as error:  # includes Airflow's ParamValidationError
                raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
            if submission.note:
                run.note = (submission.note, user.get_id())
            session.flush()
            return {
                "Id": run.run_id,
                "PipelineId": name,
                "ExperimentName": submission.conf[RUN_RECORD_KEY]["experiment_name"],
                "Status": v1_status(run.state),
                "RunUrl": f"{_api_root(request)}/runs/{run.run_id}",
            }

    def set_paused(name: str, user: Any, paused: bool, request: Request) -> dict[str, Any]:
        from airflow.utils.session import create_session

        from airflow_provider_mlpipe.authoring.datastore_schedule import dispatcher_dag_id

        _authorize(user, name, "PUT", run=False)
        with create_session() as session:
            model = _one_published(session, name)
            model.is_paused = paused
            # v1: a disabled pipeline's schedules submit nothing, so its datastore schedule pauses too.
            dispatcher = session.get(type(model), dispatcher_dag_id(name))
            if dispatcher is not None:
                dispatcher.is_paused = paused
            session.flush()
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
    return app
