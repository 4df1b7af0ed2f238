"""Cancel a pipeline run (v1's `PipelineRun.cancel()`), for the REST route and the client's local runs.

The run is marked failed exactly as Airflow's own "mark run as failed" does (`PATCH
/api/v2/dags/{dag_id}/dagRuns/{run_id}` with state failed): running and deferred steps become
failed, steps not started skipped, the run failed, so the scheduler starts nothing more. Airflow
then stops what still runs (checked in the 3.3 source and by our tests): a running task's
supervisor hears from its next heartbeat that the task must stop (409) and SIGTERMs it, so the
operator's `on_kill` kills the script's process tree or cancels the remote job; the triggerer
cancels the trigger of a deferred task as a user action and awaits its `on_kill`, which cancels
the Databricks run or ADLA job. A local run's runner reacts to the same DB state (see
`local_runner`).

What was canceled is recorded in the run's conf under `mlpipe.canceled` (who, when, which steps
had not ended), so the run and those steps read "Canceled" and a second cancel changes nothing.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mlpipe.api.payload import RUN_RECORD_KEY

#: Key of the cancellation record inside the run's `mlpipe` conf record.
CANCELED_KEY = "canceled"
#: Task instance states of steps that had ended before the cancel (they keep their own status).
ENDED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


class RunAlreadyEnded(Exception):
    """The run ended (Finished or Failed) before it was canceled: nothing to stop."""

    def __init__(self, run_id: str, state: str) -> None:
        super().__init__(f"run {run_id!r} already ended ({state}); there is nothing to cancel")
        self.state = state


def cancel_record(run: Any) -> dict[str, Any] | None:
    """The run's cancellation record (`by`, `at`, `steps`), or None when it was not canceled."""
    record = (run.conf or {}).get(RUN_RECORD_KEY) or {}
    canceled = record.get(CANCELED_KEY) if isinstance(record, dict) else None
    return canceled if isinstance(canceled, dict) else None


def canceled_steps(run: Any) -> frozenset[str]:
    """Task ids of the steps a cancel stopped or kept from starting."""
    record = cancel_record(run)
    return frozenset(record.get("steps") or ()) if record else frozenset()


def cancel_run(session: Any, run: Any, user_name: str | None) -> bool:
    """Cancel `run` (a DagRun in `session`); True when canceled now, False when it was already canceled.

    An already canceled run is marked failed again, which also settles steps left running by a
    runner that died (idempotent). Raises `RunAlreadyEnded` for a run that ended on its own.
    """
    from airflow._shared.timezones import timezone
    from airflow.models.dagbag import DBDagBag
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    first_time = cancel_record(run) is None
    state = str(getattr(run.state, "value", run.state))
    if first_time and state in ("success", "failed"):
        raise RunAlreadyEnded(run.run_id, state)
    if first_time:
        states = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
            )
        ).all()
        open_steps = sorted(task for task, ti_state in states if _state(ti_state) not in ENDED_STATES)
        conf = dict(run.conf or {})
        record = dict(conf.get(RUN_RECORD_KEY) or {})
        record[CANCELED_KEY] = {"by": user_name, "at": timezone.utcnow().isoformat(), "steps": open_steps}
        conf[RUN_RECORD_KEY] = record
        run.conf = conf  # a new dict, so the JSON column is written
        session.flush()
    dag = DBDagBag().get_dag_for_run(run, session=session)
    if dag is None:
        raise LookupError(f"the DAG of run {run.run_id!r} ({run.dag_id}) is not in the metadata DB")
    mark_failed(dag, run, session)
    session.flush()
    return first_time


def mark_failed(dag: Any, run: Any, session: Any) -> None:
    """Airflow's own "mark run as failed" (with its listener hooks where this Airflow has them)."""
    try:
        from airflow.api_fastapi.core_api.datamodels.dag_run import DagRunMutableStates
        from airflow.api_fastapi.core_api.services.public.dag_run import patch_dag_run_state
    except ImportError:  # pragma: no cover - an Airflow without the service module
        from airflow.api.common.mark_tasks import set_dag_run_state_to_failed

        set_dag_run_state_to_failed(dag=dag, run_id=run.run_id, commit=True, session=session)
        return
    patch_dag_run_state(dag=dag, dag_run=run, state=DagRunMutableStates.FAILED, session=session)


def _state(value: Any) -> str:
    return "none" if value is None else str(getattr(value, "value", value))
