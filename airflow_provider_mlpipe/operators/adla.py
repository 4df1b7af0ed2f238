"""`AdlaStepOperator`: runs one `AdlaStep` as a U-SQL job on Azure Data Lake Analytics.

`@@name@@` placeholders are replaced, safely, by the paths of the inputs and outputs of that
name and by `params` values; the job id is stored in XCom before waiting; waiting is done
here or, when deferrable, by `AdlaJobTrigger` on the triggerer.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_mlpipe.links import ADLA_JOB_ID_KEY, ADLA_JOB_URL_KEY, AdlaJobLink, ReusedFromLink
from airflow_provider_mlpipe.operators.base import PipelineStepOperator

if TYPE_CHECKING:
    from airflow_provider_mlpipe.hooks.adla import AdlaHook
    from airflow_provider_mlpipe.hooks.reuse_cache import ReuseKey
    from airflow_provider_mlpipe.runtime.step_data import InputLocation, StepData

#: Bump when the same inputs would make this operator produce different outputs (it resets reuse).
SEMANTICS_VERSION = 1
#: XCom key holding the reuse key of a deferred job until the task resumes.
PENDING_REUSE_KEY = "mlpipe_pending_reuse"


def _poll_seconds(configured: float | None) -> float:
    from airflow.configuration import conf

    return configured or conf.getfloat("mlpipe", "adla_poll_seconds", fallback=10.0)


class AdlaStepOperator(PipelineStepOperator):
    """Submit a step's U-SQL job, wait for it (here or deferred), hand on its outputs."""

    template_fields: Sequence[str] = ()
    operator_extra_links = (AdlaJobLink(), ReusedFromLink())
    ui_color = "#e0e7ff"

    def __init__(
        self,
        *,
        script_path: str,
        usql_spec: dict[str, Any],
        adla_conn_id: str = "adla_default",
        source_directory: str | None = None,
        deferrable: bool | None = None,
        poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.script_path = script_path
        self.usql_spec = usql_spec
        self.adla_conn_id = adla_conn_id
        self.source_directory = source_directory
        if deferrable is None:
            from airflow.configuration import conf

            deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self._job_id: str | None = None
        #: The job's page (read by the "ADLA job" link).
        self.job_url: str | None = None

    def execute(self, context: Any) -> dict[str, dict[str, Any]] | None:
        from airflow_provider_mlpipe.runtime.step_data import StepData, StepDataError
        from airflow_provider_mlpipe.runtime.usql import substitute

        ti = context["ti"]
        params = context.get("params") or {}
        data = StepData(self.step_name, Path(tempfile.gettempdir()), self.log)
        try:
            locations = self.locate_inputs(data, ti)
            key = self._reuse_key(data, locations, params)
            cache, decision = self.decide(data, key, context)
            if decision.hit:
                return self.hand_on(ti, key, decision.entry)  # type: ignore[arg-type]
            values = self._placeholder_values(data, locations, params, ti)
        except StepDataError as error:
            raise AirflowException(str(error)) from error
        try:
            template = Path(self.script_path).read_text(encoding="utf-8-sig")
            script = substitute(template, values, self.step_name)
        except ValueError as error:
            raise AirflowException(str(error)) from error
        hook = self._hook()
        spec = self.usql_spec
        self._job_id = hook.submit(
            f"{ti.dag_id}.{ti.task_id}",
            script,
            spec.get("degree_of_parallelism"),
            spec.get("priority"),
            spec.get("runtime_version"),
        )
        self.job_url = hook.job_url(self._job_id)
        ti.xcom_push(key=ADLA_JOB_ID_KEY, value=self._job_id)
        ti.xcom_push(key=ADLA_JOB_URL_KEY, value=self.job_url)
        self.log.info("Step %r: ADLA job %s: %s", self.step_name, self._job_id, self.job_url)
        resume = {"key": [[c.name, c.digest, c.detail] for c in key.components], "reason": decision.reason}
        if self.deferrable:
            from airflow_provider_mlpipe.triggers.adla import AdlaJobTrigger

            ti.xcom_push(key=PENDING_REUSE_KEY, value=resume)
            poll = _poll_seconds(self.poll_interval)
            self.defer(
                trigger=AdlaJobTrigger(self._job_id, self.adla_conn_id, poll), method_name="execute_complete"
            )
        return self._complete(context, self._wait(hook, self._job_id), resume)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Resume after the trigger fired: the job ended (the event holds its result and errors)."""
        ti = context["ti"]
        return self._complete(context, event, ti.xcom_pull(task_ids=ti.task_id, key=PENDING_REUSE_KEY))

    def on_kill(self) -> None:
        if self._job_id is not None:
            self.log.info("Step %r: cancelling ADLA job %s", self.step_name, self._job_id)
            self._hook().cancel(self._job_id)

    def _hook(self) -> AdlaHook:
        from airflow_provider_mlpipe.hooks.adla import AdlaHook

        return AdlaHook(self.adla_conn_id)

    def _wait(self, hook: AdlaHook, job_id: str) -> dict[str, Any]:
        while True:
            state = hook.get_job_state(job_id)
            if state["state"] == "Ended":
                return state
            self.log.info("ADLA job %s is %s", job_id, state["state"])
            time.sleep(_poll_seconds(self.poll_interval))

    def _complete(
        self, context: Any, state: dict[str, Any], resume: dict[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """Fail with the job's errors, or publish the outputs' records and the reuse entry."""
        from airflow_provider_mlpipe.hooks.reuse_cache import (
            KeyComponent,
            ReuseCacheHook,
            ReuseKey,
            reuse_datastore_name,
        )
        from airflow_provider_mlpipe.runtime.step_data import StepData, StepDataError

        ti = context["ti"]
        job_id = state["job_id"]
        self.job_url = self.job_url or self._hook().job_url(job_id)
        if state.get("result") != "Succeeded":
            errors = "\n".join(
                f"  {e.get('error_id')} (line {e.get('line_number')}): {e.get('message')}"
                for e in state.get("errors") or []
            )
            raise AirflowException(
                f"step {self.step_name!r}: ADLA job {job_id} ended {state.get('result')}"
                + (f":\n{errors}" if errors else "")
            )
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
        return self.record(
            ti, cache, key, records, {"adla": {"job_id": job_id, "url": self.job_url}}, resume["reason"]
        )

    def _bound_params(self, params: Any) -> dict[str, str]:
        bound = {}
        for name, value in self.usql_spec.get("params", {}).items():
            if isinstance(value, dict) and "parameter" in value:
                try:
                    bound[name] = str(params[value["parameter"]])
                except KeyError:
                    raise AirflowException(
                        f"step {self.step_name!r}: pipeline parameter {value['parameter']!r} has no value"
                    ) from None
            else:
                bound[name] = str(value)
        return bound

    def _reuse_key(self, data: StepData, locations: list[InputLocation], params: Any) -> ReuseKey:
        """The script (or its whole source folder), job settings, bound params, and the data."""
        from airflow_provider_mlpipe.hooks.reuse_cache import ReuseKey
        from airflow_provider_mlpipe.runtime.reuse_key import source_component, value_component
        from airflow_provider_mlpipe.runtime.snapshot import snapshot_files

        script = Path(self.script_path)
        source = Path(self.source_directory) if self.source_directory else None
        files = snapshot_files(source) if source else [script.name]
        settings = {
            k: self.usql_spec.get(k)
            for k in ("script_name", "degree_of_parallelism", "priority", "runtime_version")
        }
        components = [
            value_component("step", {"kind": "AdlaStep", "semantics": SEMANTICS_VERSION}),
            source_component(source, script, files),
            value_component("job", settings),
            value_component("params", self._bound_params(params)),
            value_component("version", self.step_version),
        ]
        return ReuseKey(tuple(components + self.data_components(data, locations)))

    def _placeholder_values(
        self, data: StepData, locations: list[InputLocation], params: Any, ti: Any
    ) -> dict[str, str]:
        """`@@name@@` values: input and output paths as U-SQL sees them, and the bound params."""
        values = {
            location.name: data.client(location.datastore).usql_path(location.path) for location in locations
        }
        for output in self.outputs:
            client, path = data.output_location(output, ti.dag_id, ti.run_id, ti.task_id)
            client.delete(path)  # an earlier, failed attempt's files
            values[output["name"]] = client.usql_path(path)
        return {**values, **self._bound_params(params)}
