"""A run of a published pipeline from a v1 submit body: what `POST /pipelines/{name}/submit` and
`POST /endpoints/{name or id}/submit` both do once the caller may run the pipeline.

The run is created the way Airflow's own trigger endpoint does (`create_dagrun`, manual, by the
REST API, as the user), after the body is checked against the DAG's typed params (`payload`).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status

from airflow_provider_mlpipe.api.dags import published_version, tagged_dags
from airflow_provider_mlpipe.api.payload import PayloadError, check_submission, v1_status
from airflow_provider_mlpipe.contract import PUBLISHED_TAG, RUN_RECORD_KEY


def api_root(request: Any) -> str:
    """The `/mlpipe` app's URL as the caller sees it (the api-server's base plus the mount)."""
    root_path = request.scope.get("root_path", "")
    base = str(request.base_url).rstrip("/")
    return base if base.endswith(root_path) else base + root_path


def param_types(dag: Any) -> dict[str, Any]:
    """{param name: JSON-schema type} of the DAG's params."""
    types = {}
    for name, param in dag.params.items():
        schema = (
            getattr(param, "schema", None) or (param.get("schema") if isinstance(param, dict) else {}) or {}
        )
        types[name] = schema.get("type")
    return types


def start_run(
    session: Any, name: str, body: Any, user: Any, api_root: str, record: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Queue a run of published pipeline `name` from v1's submit `body`; v1's answer (Id, Status...).

    404 if there is no such published pipeline, 409 if it is disabled, 400 if the body does not
    fit its parameters. `record` is added to what the run's conf records of the submission.
    """
    from airflow._shared.timezones import timezone
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    found = tagged_dags(session, PUBLISHED_TAG, name)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no published pipeline {name!r}")
    model = found[0]
    if model.is_paused:
        raise HTTPException(status.HTTP_409_CONFLICT, f"pipeline {name!r} is disabled")
    dag = DBDagBag().get_latest_version_of_dag(name, session=session)
    if dag is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no published pipeline {name!r}")
    try:
        submission = check_submission(body, param_types(dag), name, published_version(model))
    except PayloadError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    if record:
        submission.conf[RUN_RECORD_KEY].update(record)
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
        "RunUrl": f"{api_root}/runs/{run.run_id}",
    }
