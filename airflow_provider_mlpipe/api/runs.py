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
        "ParameterAssignments": {k: v for k, v in (run.conf or {}).items() if k != RUN_RECORD_KEY},
        "StartTime": run.start_date.isoformat() if run.start_date else None,
        "EndTime": run.end_date.isoformat() if run.end_date else None,
    }


def step_statuses(session: Any, run: Any) -> list[dict[str, Any]]:
    """Each step's status, reuse decision and outputs (from the step's XCom)."""
    from airflow_provider_mlpipe.api.cancel import canceled_steps
    from airflow_provider_mlpipe.api.steps import step_records

    canceled = canceled_steps(run)
    steps = []
    for step in step_records(session, run.dag_id, [run.run_id])[run.run_id]:
        reuse = step.reuse
        stopped = step.task_id in canceled and step.state != "success"  # stopped, or never started
        steps.append(
            {
                "Name": step.task_id,
                "Status": "Canceled" if stopped else v1_status(step.state),
                "Reused": reuse.get("decision") == "hit" if reuse else None,
                "ReusedFrom": reuse.get("source"),
                "ReuseReason": reuse.get("reason"),
                "Outputs": step.outputs,
            }
        )
    return steps


def run_details(session: Any, run: Any) -> dict[str, Any]:
    """`GET /mlpipe/runs/{id}`'s answer: the run's summary and its steps."""
    return {**run_summary(run), "Steps": step_statuses(session, run)}
