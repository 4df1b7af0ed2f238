"""`ScheduledSubmitOperator`: the one task of a schedule's DAG, submitting the published pipeline.

A `TriggerDagRunOperator` with what a `Schedule` adds: the run id is derived from the schedule
and the schedule DAG's own run (so a retried or restarted task finds the run it made and
creates no second one), a disabled pipeline gets nothing (v1: its schedules submit nothing),
and a schedule whose pipeline is gone fails saying so.
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator


class ScheduledSubmitOperator(TriggerDagRunOperator):
    """Start one run of `trigger_dag_id` for schedule `schedule_id` (see the module).

    :param schedule_id: the schedule's id (logged, and recorded in the run's conf by `schedules_db`).
    :param target_active: False when the pipeline endpoint is disabled: nothing is submitted.
    :param problem: why the schedule cannot submit (its pipeline is gone...): the task fails with it.
    :param run_id_prefix: without a `trigger_run_id`, the run's id is this prefix followed by the
        schedule DAG run's logical date (ISO), or by its run id when it has none (an asset event's).
    """

    def __init__(
        self,
        *,
        schedule_id: str,
        target_active: bool = True,
        problem: str | None = None,
        run_id_prefix: str = "",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("logical_date", None)
        kwargs.setdefault("skip_when_already_exists", True)
        kwargs.setdefault("openlineage_inject_parent_info", False)
        super().__init__(**kwargs)
        self.schedule_id = schedule_id
        self.target_active = target_active
        self.problem = problem
        self.run_id_prefix = run_id_prefix

    def execute(self, context: Any) -> Any:
        from airflow.exceptions import AirflowException

        if self.problem:
            raise AirflowException(f"schedule {self.schedule_id} cannot submit: {self.problem}")
        if not self.target_active:
            self.log.info(
                "Schedule %s: its pipeline endpoint is disabled, so nothing is submitted", self.schedule_id
            )
            return None
        if context["ti"].get_dag(self.trigger_dag_id).is_paused:
            self.log.info(
                "Schedule %s: published pipeline %s is disabled, so nothing is submitted (as in v1)",
                self.schedule_id,
                self.trigger_dag_id,
            )
            return None
        if not self.trigger_run_id:
            self.trigger_run_id = self.run_id_prefix + run_key(context["dag_run"])
        self.log.info(
            "Schedule %s: submitting run %s of %s (a run with that id is never made twice)",
            self.schedule_id,
            self.trigger_run_id,
            self.trigger_dag_id,
        )
        return super().execute(context)


def run_key(dag_run: Any) -> str:
    """What identifies a schedule DAG's run: its logical date (ISO, UTC), else its run id."""
    logical_date = getattr(dag_run, "logical_date", None)
    if logical_date is not None:
        return logical_date.astimezone(timezone.utc).isoformat()
    return dag_run.run_id
