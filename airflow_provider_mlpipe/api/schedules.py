"""`/mlpipe/schedules`: v1's `Schedule` of a published pipeline or pipeline endpoint.

A schedule is a row of the metadata DB (`schedules_db`), turned into the DAG
``mlpipe_schedule__<id>`` by the provider's DAG source (`schedule_dags`). What a user may do follows
the auth manager's verdict on the pipeline the schedule submits (for an endpoint, its default
version's): reading a schedule needs read on it, creating or changing one needs edit (PUT).

    GET  /schedules?active_only=true&pipeline_id=&pipeline_endpoint_id=     POST /schedules {...}
    GET  /schedules/{schedule_id}              POST /schedules/{schedule_id}/update {...}
    POST /schedules/{schedule_id}/enable, /disable
    GET  /schedules/{schedule_id}/runs?limit=  (newest first)

Bodies use `Schedule.create`'s and `update`'s argument names (``name``, ``pipeline_id``,
``experiment_name``, ``recurrence`` as v1's fields, ``datastore`` as its name,
``parameter_assignments``/``data_path_assignments`` as a submit's); answers are records
(`schedules_db.record`: ``Id``, ``Name``, ``Status``, ``Recurrence``...).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, Path, Query, status

from airflow_provider_mlpipe import schedules_db as store
from airflow_provider_mlpipe.api import limits
from airflow_provider_mlpipe.api.dags import GetUserDep, dag_allowed

#: A schedule id in a path (ids are 32 hex digits).
ScheduleIdPath = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="A schedule's id"),
]
#: Largest `?limit=` of `GET /schedules/{id}/runs`.
MAX_RUNS_LIMIT = 1000


def _call(action: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a store call; its refusals become the HTTP answer they name (400, 403, 404)."""
    try:
        return action(*args, **kwargs)
    except store.ScheduleError as error:
        raise HTTPException(error.status_code, str(error)) from None


def _may(user: Any, method: str) -> Any:
    """`authorize(dag_id)` for the store: 403 unless `user` may `method` the pipeline's DAG."""

    def authorize(dag_id: str) -> None:
        if not dag_allowed(user, dag_id, method):
            verb = "read" if method == "GET" else "edit"
            raise store.ScheduleError(f"not allowed to {verb} pipeline {dag_id!r}", status.HTTP_403_FORBIDDEN)

    return authorize


def _target_of(record: dict[str, Any]) -> str | None:
    """The pipeline a schedule submits now (for an endpoint, its default version's); None if unknown."""
    if record["PipelineId"] is not None:
        return record["PipelineId"]
    from airflow_provider_mlpipe import endpoints_db

    try:
        return endpoints_db.pipeline_of(endpoints_db.get(record["PipelineEndpointId"]))[1]
    except endpoints_db.EndpointError:
        return None


def _visible(user: Any, record: dict[str, Any], permitted: set[str] | None = None) -> bool:
    target = _target_of(record)
    if target is None:
        return False
    return target in permitted if permitted is not None else dag_allowed(user, target, "GET")


def _one(schedule_id: str, user: Any, method: str) -> dict[str, Any]:
    """The schedule, if `user` may `method` its pipeline (404 for one they may not even read)."""
    record = _call(store.get, schedule_id)
    target = _target_of(record)
    if target is None or not dag_allowed(user, target, "GET"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no schedule with id {schedule_id!r}")
    if method != "GET" and not dag_allowed(user, target, method):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"not allowed to edit pipeline {target!r}")
    return record


def add_schedules(app: FastAPI) -> None:
    """Add the `/schedules` routes to the `/mlpipe` app."""

    @app.get("/schedules")
    def list_schedules(
        user: GetUserDep,
        active_only: bool = True,
        pipeline_id: Annotated[str | None, Query(max_length=limits.MAX_QUERY_CHARS)] = None,
        pipeline_endpoint_id: Annotated[str | None, Query(max_length=limits.MAX_QUERY_CHARS)] = None,
    ) -> dict[str, Any]:
        from airflow.api_fastapi.app import get_auth_manager

        permitted = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
        records = _call(store.list_records, active_only, pipeline_id, pipeline_endpoint_id)
        return {"Schedules": [r for r in records if _visible(user, r, permitted)]}

    @app.post("/schedules")
    def create_schedule(user: GetUserDep, body: Annotated[Any, Body()] = None) -> dict[str, Any]:
        return _call(store.create, body, user=user.get_name(), authorize=_may(user, "PUT"))

    @app.get("/schedules/{schedule_id}")
    def get_schedule(schedule_id: ScheduleIdPath, user: GetUserDep) -> dict[str, Any]:
        return _one(schedule_id, user, "GET")

    @app.post("/schedules/{schedule_id}/update")
    def update_schedule(
        schedule_id: ScheduleIdPath, user: GetUserDep, body: Annotated[Any, Body()] = None
    ) -> dict[str, Any]:
        _one(schedule_id, user, "PUT")
        return _call(store.update_schedule, schedule_id, body, authorize=_may(user, "PUT"))

    @app.post("/schedules/{schedule_id}/enable")
    def enable_schedule(schedule_id: ScheduleIdPath, user: GetUserDep) -> dict[str, Any]:
        _one(schedule_id, user, "PUT")
        return _call(store.update_schedule, schedule_id, {"status": store.ACTIVE})

    @app.post("/schedules/{schedule_id}/disable")
    def disable_schedule(schedule_id: ScheduleIdPath, user: GetUserDep) -> dict[str, Any]:
        _one(schedule_id, user, "PUT")
        return _call(store.update_schedule, schedule_id, {"status": store.DISABLED})

    @app.get("/schedules/{schedule_id}/runs")
    def schedule_runs(
        schedule_id: ScheduleIdPath,
        user: GetUserDep,
        limit: Annotated[int, Query(ge=1, le=MAX_RUNS_LIMIT)] = 100,
    ) -> dict[str, Any]:
        from airflow.utils.session import create_session

        _one(schedule_id, user, "GET")
        with create_session() as session:
            return {"Runs": store.runs(session, schedule_id, limit)}
