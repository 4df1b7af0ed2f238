"""A pipeline run in v1's JSON shape, read from the metadata DB.

Shared by the `/mlpipe` REST routes and the client's local runs, so both describe a run alike.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mlpipe.api.payload import v1_status
from airflow_provider_mlpipe.contract import RUN_RECORD_KEY


def run_summary(run: Any) -> dict[str, Any]:
    """A run as v1 shows it: id, pipeline, status, what its submission recorded, times."""
    from airflow_provider_mlpipe.api.cancel import cancel_record

    record = (run.conf or {}).get(RUN_RECORD_KEY) or {}
    return {
        "Id": run.run_id,
        "PipelineId": run.dag_id,
        "Status": "Canceled" if cancel_record(run) else v1_status(run.state),
        "ExperimentName": record.get("experiment_name"),
        "Description": record.get("description"),
        "Tags": record.get("tags") or {},
        "PipelineVersion": record.get("pipeline_version"),
        "ScheduleId": record.get("schedule_id"),
        "ParentRunId": record.get("parent_run_id"),
        "ParameterAssignments": {k: v for k, v in (run.conf or {}).items() if k != RUN_RECORD_KEY},
        "StartTime": run.start_date.isoformat() if run.start_date else None,
        "EndTime": run.end_date.isoformat() if run.end_date else None,
    }


def step_statuses(session: Any, run: Any) -> list[dict[str, Any]]:
    """Each step's name as written, id, status, reuse decision and outputs (from the step's XCom).

    `Id` is `<dag_id>/<run_id>/<task_id>`, what `Run.get_context().id` says in the step's script;
    `TaskId` the Airflow task id (logs and XComs are read by it).
    """
    from airflow_provider_mlpipe.api.cancel import canceled_steps
    from airflow_provider_mlpipe.api.steps import step_records
    from airflow_provider_mlpipe.runtime.metrics import step_run_id

    canceled = canceled_steps(run)
    steps = []
    for step in step_records(session, run.dag_id, [run.run_id])[run.run_id]:
        reuse = step.reuse
        stopped = step.task_id in canceled and step.state != "success"  # stopped, or never started
        steps.append(
            {
                "Name": step.name,
                "Id": step_run_id(run.dag_id, run.run_id, step.task_id),
                "TaskId": step.task_id,
                "Status": "Canceled" if stopped else v1_status(step.state),
                "Reused": reuse.get("decision") == "hit" if reuse else None,
                "ReusedFrom": reuse.get("source"),
                "ReuseReason": reuse.get("reason"),
                "Outputs": step.outputs,
                "StartTime": step.start_date.isoformat() if step.start_date else None,
                "EndTime": step.end_date.isoformat() if step.end_date else None,
            }
        )
    return steps


def run_details(session: Any, run: Any) -> dict[str, Any]:
    """`GET /mlpipe/runs/{id}`'s answer: the run's summary and its steps."""
    return {**run_summary(run), "Steps": step_statuses(session, run)}


def local_experiment_runs(experiment_name: str, limit: int = 100) -> list[dict[str, Any]]:
    """Summaries of the runs of experiment `experiment_name` in the metadata DB of the current
    AIRFLOW_HOME, newest first: what `GET /mlpipe/runs?experiment_name=` answers for a deployment.

    An AIRFLOW_HOME whose DB was never migrated has no runs.
    """
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import inspect, select

    if settings.engine is None:
        settings.configure_orm()
    if not inspect(settings.engine).has_table("dag_run"):
        return []
    found = []
    with create_session() as session:
        for run in session.scalars(select(DagRun).order_by(DagRun.id.desc())):
            record = (run.conf or {}).get(RUN_RECORD_KEY) if isinstance(run.conf, dict) else None
            if isinstance(record, dict) and record.get("experiment_name") == experiment_name:
                found.append(run_summary(run))
                if len(found) >= limit:
                    break
    return found
