"""The DAGs of the schedules made with `Schedule.create` (a notebook or `/mlpipe/schedules`).

Put the provider's one-line DAG file in the DAG folder (`dags/mlpipe_schedules.py`)::

    from airflow_provider_mlpipe.schedule_dags import schedule_dags

    globals().update(schedule_dags())

Each schedule becomes the DAG ``mlpipe_schedule__<schedule id>`` (displayed as "Schedule <name>"),
paused while the schedule is Disabled, whose one task submits the published pipeline with the
schedule's parameters and experiment:

* a recurrence: the DAG's timetable is the recurrence's (`ScheduleRecurrence.dag_kwargs`,
  ``catchup=False``); v1 counts a recurrence without ``start_time`` from the schedule's creation,
  so the creation time (or the last change of the recurrence) is its start time here;
* a datastore: the DAG is scheduled on the watched asset (`datastore_schedule`; no path watches
  the whole datastore); with ``data_path_parameter_name`` it submits one run per new or changed
  file with that DataPath parameter set to it, as a published pipeline's datastore schedule does.

The id of each pipeline run is ``mlpipe_schedule__<schedule id>__<logical date>`` (the schedule
DAG run's, ISO in UTC; an asset-triggered run has none, so its run id; ``...__event<asset event
id>`` per file): a retried task, a restarted scheduler or a second run for the same logical date
finds the run already made and submits nothing more.

Parse cost: one read of the Variable `SCHEDULES_VARIABLE` (Airflow's own channel; the DAG file
may not query the metadata DB) and the DAGs themselves; the Airflow and operator imports happen
only when there is a schedule.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import timedelta
from typing import Any

from airflow_provider_mlpipe.contract import (
    SCHEDULE_DAG_PREFIX,
    SCHEDULE_RUN_PREFIX,
    SCHEDULE_TAG,
    SCHEDULES_VARIABLE,
)

log = logging.getLogger(__name__)


def read_snapshot() -> list[dict[str, Any]]:
    """The schedules as `schedules_db` last wrote them; [] when there are none."""
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    if getattr(runner, "SUPERVISOR_COMMS", None) is not None:  # the dag-processor or a task: no DB
        from airflow.sdk import Variable

        text = Variable.get(SCHEDULES_VARIABLE, default=None)
    else:  # a process of its own (a test's DagBag, `airflow dags list`): read it where it is stored
        from airflow.models.variable import Variable as StoredVariable

        text = StoredVariable.get(SCHEDULES_VARIABLE, default_var=None)
    if not text:
        return []
    return list(json.loads(text).get("schedules") or [])


def schedule_dags(specs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """{dag_id: DAG} of every schedule (`specs`, default the stored ones); a bad one is logged."""
    dags = {}
    for spec in read_snapshot() if specs is None else specs:
        try:
            dag = schedule_dag(spec)
        except Exception:  # one broken schedule must not hide the others
            log.exception("mlpipe schedule %s: its DAG could not be built", spec.get("id"))
            continue
        dags[dag.dag_id] = dag
    return dags


def schedule_dag(spec: dict[str, Any]) -> Any:
    """The DAG of one schedule (a `schedules_db` snapshot entry)."""
    from airflow.sdk import DAG

    from airflow_provider_mlpipe.operators.scheduled_submit import ScheduledSubmitOperator

    schedule_id = spec["id"]
    target = spec.get("target") or spec.get("pipeline_id") or spec.get("pipeline_endpoint_id")
    what = f"pipeline endpoint {spec['pipeline_endpoint_id']}" if spec.get("pipeline_endpoint_id") else target
    run_prefix = f"{SCHEDULE_RUN_PREFIX}{schedule_id}__"
    kwargs: dict[str, Any] = {
        "dag_display_name": f"Schedule {spec['name']}",
        "description": f"Submits {what} (mlpipe schedule {spec['name']})",
        "tags": [SCHEDULE_TAG],
        "max_active_runs": 1,
        "is_paused_upon_creation": spec.get("status") == "Disabled",
    }
    submit = {
        "schedule_id": schedule_id,
        "target_active": bool(spec.get("target_active", True)),
        "problem": spec.get("problem"),
        "trigger_dag_id": target,
        "note": spec.get("note"),
        # A try that failed (the API server briefly away) is tried again: it submits under the same
        # run id, so a run the failed try did make is found, not made twice.
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
    }
    recurrence = spec.get("recurrence")
    if recurrence is not None:
        from airflow_provider_mlpipe.authoring.schedule import ScheduleRecurrence

        with DAG(
            f"{SCHEDULE_DAG_PREFIX}{schedule_id}", **kwargs, **ScheduleRecurrence(**recurrence).dag_kwargs()
        ) as dag:
            ScheduledSubmitOperator(
                task_id="submit",
                run_id_prefix=run_prefix,
                conf=spec.get("conf") or {},
                **submit,
            )
        return dag
    return _datastore_dag(spec, kwargs, submit, run_prefix)


def _datastore_dag(
    spec: dict[str, Any], kwargs: dict[str, Any], submit: dict[str, Any], run_prefix: str
) -> Any:
    from airflow.sdk import DAG

    from airflow_provider_mlpipe.authoring.datastore import Datastore
    from airflow_provider_mlpipe.authoring.datastore_schedule import datastore_schedule
    from airflow_provider_mlpipe.operators.new_data_runs import NewDataRunsOperator
    from airflow_provider_mlpipe.operators.scheduled_submit import ScheduledSubmitOperator

    dag_id = f"{SCHEDULE_DAG_PREFIX}{spec['id']}"
    asset = datastore_schedule(
        Datastore(spec["datastore_name"]),
        spec.get("path_on_datastore") or "",
        polling_interval=spec.get("polling_interval") or 5,
        name=dag_id,
    )
    parameter = spec.get("data_path_parameter_name")
    with DAG(dag_id, schedule=[asset], **kwargs) as dag:
        if parameter is None:
            ScheduledSubmitOperator(
                task_id="submit",
                run_id_prefix=run_prefix,
                conf=spec.get("conf") or {},
                **submit,
            )
            return dag
        to_start = NewDataRunsOperator(
            task_id="find_new_files",
            asset=asset,
            target_dag_id=submit["trigger_dag_id"],
            data_path_parameter_name=parameter,
            run_id_prefix=run_prefix + "event",
            conf=spec.get("conf") or {},
        )
        ScheduledSubmitOperator.partial(task_id="submit", **submit).expand_kwargs(to_start.output)
    return dag
