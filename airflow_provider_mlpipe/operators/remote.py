"""`RemoteStepOperator`: submit, wait and cancel for steps whose work runs elsewhere (Databricks, ADLA).

A remote job is submitted, then waited for here (polling) or on the triggerer (deferred); the
pending reuse record waits in XCom across a deferral, because the resumed task is a fresh
operator that must not recompute its key. When the job succeeded, its outputs, which it wrote
straight to their datastores, are described from a listing and recorded for reuse.
A kind supplies the primitives: `submit`, `job_state`, `ended`, `trigger`, `check_success`,
`cancel`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_mlpipe.operators.base import PipelineStepOperator

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_mlpipe.operators.outcome import StepOutcome
    from airflow_provider_mlpipe.runtime.step_data import AttemptData, InputLocation
    from airflow_provider_mlpipe.specs import OutputRecord

#: XCom key holding the pending reuse record of a deferred job until the task resumes.
PENDING_REUSE_KEY = "mlpipe_pending_reuse"


class RemoteStepOperator(PipelineStepOperator):
    """Base of step operators whose work runs elsewhere: the run is submit, then poll or defer."""

    #: `[mlpipe]` option with the seconds between two polls of this kind's jobs (each kind declares
    #: its own in the provider info, e.g. `databricks_poll_seconds`).
    poll_option: ClassVar[str]
    #: What the kind's job is called in messages ("Databricks run", "ADLA job").
    job_noun: ClassVar[str]
    kind_arguments: ClassVar[dict[str, Any]] = {"deferrable": None, "poll_interval": None}
    #: The submitted job of this try (for `on_kill`).
    job_id: Any = None

    def prepare(self, arguments: dict[str, Any]) -> None:
        """`deferrable` unset: Airflow's `[operators] default_deferrable`."""
        if arguments["deferrable"] is None:
            from airflow.configuration import conf

            arguments["deferrable"] = conf.getboolean("operators", "default_deferrable", fallback=False)

    # The kind's primitives

    def submit(self, context: Any, data: AttemptData, locations: list[InputLocation]) -> Any:
        """Start the job (or re-attach to this task's earlier one); returns its id."""
        raise NotImplementedError

    def job_state(self, job_id: Any) -> dict[str, Any]:
        """The job's state now, in the shape the kind's trigger fires with."""
        raise NotImplementedError

    def ended(self, state: dict[str, Any]) -> bool:
        """True once the job is in a terminal state."""
        raise NotImplementedError

    def trigger(self, job_id: Any) -> BaseTrigger:
        """The trigger that waits for the job on the triggerer."""
        raise NotImplementedError

    def check_success(self, state: dict[str, Any]) -> dict[str, Any]:
        """Raise an AirflowException naming the step unless the job succeeded; else its run record."""
        raise NotImplementedError

    def cancel(self, job_id: Any) -> None:
        """Stop the job."""
        raise NotImplementedError

    # The run

    def poll_seconds(self) -> float:
        """The step's poll interval, else its `[mlpipe]` option (read when the task runs)."""
        from airflow_provider_mlpipe import settings

        return self.poll_interval or settings.poll_seconds(self.poll_option)

    def run(self, context: Any, data: AttemptData, locations: list[InputLocation]) -> StepOutcome:
        """Submit, then defer to the kind's trigger or poll here until the job ended."""
        from airflow_provider_mlpipe.operators.outcome import StepOutcome

        self.job_id = job_id = self.submit(context, data, locations)
        if self.deferrable:
            context["ti"].xcom_push(key=PENDING_REUSE_KEY, value=self.pending.to_xcom())
            self.defer(trigger=self.trigger(job_id), method_name="execute_complete")
        while not self.ended(state := self.job_state(job_id)):
            self.log.info("Step %r: waiting, the job is %s", self.step_name, state)
            time.sleep(self.poll_seconds())
        return StepOutcome(self.check_success(state))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, OutputRecord]:
        """Resume after the trigger fired: the job ended (the event holds its final state)."""
        from airflow_provider_mlpipe.operators.outcome import PendingRecord, StepOutcome

        ti = context["ti"]
        pending = PendingRecord.from_xcom(ti.xcom_pull(task_ids=ti.task_id, key=PENDING_REUSE_KEY))
        outcome = StepOutcome(self.check_success(event))
        with self.step_data(context) as data:
            return self.finish(context, data, pending, outcome)

    def on_kill(self) -> None:
        if self.job_id is not None:
            self.log.info("Step %r: cancelling %s %s", self.step_name, self.job_noun, self.job_id)
            self.cancel(self.job_id)
