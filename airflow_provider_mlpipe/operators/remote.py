"""`RemoteStepOperator`: what steps that run remote jobs (Databricks, ADLA) share.

A remote job is submitted, then waited for here (polling) or on the triggerer (deferred);
the reuse key waits in XCom across a deferral, because the resumed task is a fresh
operator that must not recompute it. When the job succeeded, its outputs, which it wrote
straight to their datastores, are described from a listing and recorded for reuse.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_mlpipe.operators.base import PipelineStepOperator

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_mlpipe.hooks.reuse_cache import ReuseDecision, ReuseKey

#: XCom key holding the reuse key of a deferred job until the task resumes.
PENDING_REUSE_KEY = "mlpipe_pending_reuse"


class RemoteStepOperator(PipelineStepOperator):
    """Base of step operators whose work runs elsewhere; subclasses submit, poll and judge."""

    #: `[mlpipe]` option with the seconds between two polls of this kind's jobs (each kind declares
    #: its own in the provider info, e.g. `databricks_poll_seconds`).
    poll_option: str

    def __init__(self, *, deferrable: bool | None = None, poll_interval: float | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if deferrable is None:
            from airflow.configuration import conf

            deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
        self.deferrable = deferrable
        self.poll_interval = poll_interval

    def poll_seconds(self) -> float:
        """The step's poll interval, else its `[mlpipe]` option (read when the task runs)."""
        from airflow_provider_mlpipe import settings

        return self.poll_interval or settings.poll_seconds(self.poll_option)

    def wait_for(
        self,
        context: Any,
        key: ReuseKey,
        decision: ReuseDecision,
        trigger: BaseTrigger,
        poll_state: Callable[[], dict[str, Any]],
        ended: Callable[[dict[str, Any]], bool],
    ) -> dict[str, dict[str, Any]]:
        """Defer to `trigger`, or poll `poll_state` here until `ended`; then finish the step."""
        resume = {
            "key": [[c.name, c.digest, c.detail] for c in key.components],
            "reason": decision.reason,
            "stale": decision.stale,
        }
        if self.deferrable:
            context["ti"].xcom_push(key=PENDING_REUSE_KEY, value=resume)
            self.defer(trigger=trigger, method_name="execute_complete")
        while not ended(state := poll_state()):
            self.log.info("Step %r: waiting, the job is %s", self.step_name, state)
            time.sleep(self.poll_seconds())
        return self.complete(context, state, resume)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Resume after the trigger fired: the job ended (the event holds its final state)."""
        ti = context["ti"]
        return self.complete(context, event, ti.xcom_pull(task_ids=ti.task_id, key=PENDING_REUSE_KEY))

    def complete(
        self, context: Any, state: dict[str, Any], resume: dict[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """Raise if the job failed (`check_success`), else describe and record its outputs."""
        from airflow_provider_mlpipe.hooks.reuse_cache import (
            KeyComponent,
            ReuseCacheHook,
            ReuseKey,
            reuse_datastore_name,
        )
        from airflow_provider_mlpipe.runtime.step_data import StepData, StepDataError

        run_record = self.check_success(state)
        ti = context["ti"]
        data = StepData(self.step_name, Path(tempfile.gettempdir()), self.log)
        try:
            records = {
                spec["name"]: data.written_output(spec, ti.dag_id, ti.run_id, ti.task_id)
                for spec in self.outputs
            }
            outputs_on = data.output_datastore(self.outputs[0]) if self.outputs else None
        except StepDataError as error:
            raise AirflowException(str(error)) from error
        key = ReuseKey(tuple(KeyComponent(*c) for c in resume["key"]))
        cache = ReuseCacheHook(reuse_datastore_name(outputs_on))
        return self.record(ti, cache, key, records, run_record, resume["reason"], stale=resume.get("stale"))

    def check_success(self, state: dict[str, Any]) -> dict[str, Any]:
        """Raise an AirflowException naming the step unless the job succeeded; else its run record."""
        raise NotImplementedError
