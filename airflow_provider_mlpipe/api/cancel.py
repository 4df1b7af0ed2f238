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

The triggerer calls `on_kill` only for a trigger it is running. A step that deferred a moment
ago (not yet picked up), or a deployment whose triggerer is down, would leave its remote job
running: so the cancel calls the `on_kill` of each deferred step's trigger itself, in a thread
after the answer (`kill_triggers`). Only this provider's triggers, never other code in the
api-server; cancelling a remote job twice is harmless.

What was canceled is recorded in the run's conf under `mlpipe.canceled` (who, when, which steps
had not ended), so the run and those steps read "Canceled" and a second cancel changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from airflow_provider_mlpipe.contract import RUN_RECORD_KEY

log = logging.getLogger(__name__)

#: Key of the cancellation record inside the run's `mlpipe` conf record.
CANCELED_KEY = "canceled"
#: Task instance states of steps that had ended before the cancel (they keep their own status).
ENDED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
#: The triggers whose `on_kill` a cancel may call itself: this provider's own.
OWN_TRIGGERS = "airflow_provider_mlpipe.triggers."


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
    The remote jobs of deferred steps are cancelled once the session has committed (see the
    module's docstring).
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
    triggers = deferred_triggers(session, run)
    mark_failed(dag, run, session)
    session.flush()
    if triggers:
        _after_commit(session, lambda: kill_triggers(triggers))
    return first_time


def deferred_triggers(session: Any, run: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(task id, trigger classpath, trigger kwargs) of the run's deferred steps, this provider's only."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from sqlalchemy import select

    rows = session.execute(
        select(TaskInstance.task_id, Trigger.classpath, Trigger.encrypted_kwargs)
        .join(Trigger, TaskInstance.trigger_id == Trigger.id)
        .where(
            TaskInstance.dag_id == run.dag_id,
            TaskInstance.run_id == run.run_id,
            TaskInstance.state == "deferred",
        )
    ).all()
    return [
        (task_id, classpath, Trigger._decrypt_kwargs(kwargs))
        for task_id, classpath, kwargs in rows
        if classpath.startswith(OWN_TRIGGERS)
    ]


def kill_triggers(triggers: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Call each trigger's `on_kill` (cancel its remote job) in a background thread; log the outcome."""

    def run() -> None:
        from airflow._shared.module_loading import import_string

        for task_id, classpath, kwargs in triggers:
            try:
                trigger = import_string(classpath)(**kwargs)
                asyncio.run(trigger.on_kill())
            except Exception:  # one step's failure must not keep the others' jobs running
                log.exception("Cancel: stopping the remote job of step %r (%s) failed", task_id, classpath)
            else:
                log.info("Cancel: stopped the remote job of step %r (%s)", task_id, classpath)

    threading.Thread(target=run, name="mlpipe-cancel-remote-jobs", daemon=True).start()


def _after_commit(session: Any, action: Any) -> None:
    """Run `action` once `session` has committed (at once when it is not in a transaction)."""
    from sqlalchemy import event

    if not session.in_transaction():
        action()
        return
    event.listen(session, "after_commit", lambda _session: action(), once=True)


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
