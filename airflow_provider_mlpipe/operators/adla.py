"""`AdlaStepOperator`: runs one `AdlaStep` as a U-SQL job on Azure Data Lake Analytics.

`@@name@@` placeholders are replaced, safely, by the paths of the inputs and outputs of that
name and by `params` values; the job id is stored in XCom before waiting; waiting is done
here or, when deferrable, by `AdlaJobTrigger` on the triggerer.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_mlpipe.links import ADLA_JOB_ID_KEY, ADLA_JOB_URL_KEY, AdlaJobLink, ReusedFromLink
from airflow_provider_mlpipe.operators.remote import RemoteStepOperator
from airflow_provider_mlpipe.operators.templating import TokenField

if TYPE_CHECKING:
    from airflow_provider_mlpipe.hooks.adla import AdlaHook
    from airflow_provider_mlpipe.hooks.reuse_cache import ReuseKey
    from airflow_provider_mlpipe.runtime.step_data import InputLocation, StepData

#: Bump when the same inputs would make this operator produce different outputs (it resets reuse).
SEMANTICS_VERSION = 1
#: The templated step argument: the literals among the job's `params`.
TOKEN_FIELDS = (TokenField("usql_spec", "params", "params"),)


class AdlaStepOperator(RemoteStepOperator):
    """Submit a step's U-SQL job, wait for it (here or deferred), hand on its outputs.

    Templated: the literals among `usql_spec["params"]` (v1's `params`), rendered before they
    are substituted, safely, for `@@name@@`. The script file itself is not a Jinja template.
    """

    template_fields: Sequence[str] = ("usql_spec",)
    template_fields_renderers = {"usql_spec": "json"}
    operator_extra_links = (AdlaJobLink(), ReusedFromLink())
    ui_color = "#e0e7ff"
    poll_option = "adla_poll_seconds"

    def __init__(
        self,
        *,
        script_path: str,
        usql_spec: dict[str, Any],
        adla_conn_id: str = "adla_default",
        source_directory: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.script_path = script_path
        self.usql_spec = usql_spec
        self.adla_conn_id = adla_conn_id
        self.source_directory = source_directory
        self._job_id: str | None = None
        #: The job's page (read by the "ADLA job" link).
        self.job_url: str | None = None

    def token_fields(self) -> Sequence[TokenField]:
        return TOKEN_FIELDS

    def execute(self, context: Any) -> dict[str, dict[str, Any]] | None:
        self.stop_if_run_failed(context)
        from airflow_provider_mlpipe.runtime.step_data import StepData, StepDataError
        from airflow_provider_mlpipe.runtime.usql import substitute

        ti = context["ti"]
        params = context.get("params") or {}
        data = StepData(self.step_name, Path(tempfile.gettempdir()), self.log)
        try:
            locations = self.locate_inputs(data, context)
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
        from airflow_provider_mlpipe.triggers.adla import AdlaJobTrigger

        job_id = self._job_id
        return self.wait_for(
            context,
            key,
            decision,
            AdlaJobTrigger(job_id, self.adla_conn_id, self.poll_seconds()),
            lambda: hook.get_job_state(job_id),
            lambda state: state["state"] == "Ended",
        )

    def on_kill(self) -> None:
        if self._job_id is not None:
            self.log.info("Step %r: cancelling ADLA job %s", self.step_name, self._job_id)
            self._hook().cancel(self._job_id)

    def _hook(self) -> AdlaHook:
        from airflow_provider_mlpipe.hooks.adla import AdlaHook

        return AdlaHook(self.adla_conn_id)

    def check_success(self, state: dict[str, Any]) -> dict[str, Any]:
        """Fail with each of the job's error messages (id, line, message) unless it succeeded."""
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
        return {"adla": {"job_id": job_id, "url": self.job_url}}

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
