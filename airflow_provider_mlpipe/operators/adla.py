"""`AdlaStepOperator`: runs one `AdlaStep` as a U-SQL job on Azure Data Lake Analytics.

`@@name@@` placeholders are replaced, safely, by the paths of the inputs and outputs of that
name and by `params` values; the job id is stored in XCom before waiting; waiting is done
here or, when deferrable, by `AdlaJobTrigger` on the triggerer.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk.exceptions import AirflowException

from airflow_provider_mlpipe.links import ADLA_JOB_ID_KEY, ADLA_JOB_URL_KEY, AdlaJobLink, ReusedFromLink
from airflow_provider_mlpipe.operators.base import REQUIRED
from airflow_provider_mlpipe.operators.remote import RemoteStepOperator
from airflow_provider_mlpipe.operators.templating import TokenField

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_mlpipe.hooks.adla import AdlaHook
    from airflow_provider_mlpipe.runtime.reuse_key import KeyComponent
    from airflow_provider_mlpipe.runtime.step_data import AttemptData, InputLocation
    from airflow_provider_mlpipe.tokens import Binding

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

    step_kind = "AdlaStep"
    job_noun = "ADLA job"
    kind_arguments: ClassVar[dict[str, Any]] = {
        "script_path": REQUIRED,
        "usql_spec": REQUIRED,
        "adla_conn_id": "adla_default",
        "source_directory": None,
    }
    #: The job's page (read by the "ADLA job" link).
    job_url: str | None = None

    def token_fields(self) -> Sequence[TokenField]:
        return TOKEN_FIELDS

    def submit(self, context: Any, data: AttemptData, locations: list[InputLocation]) -> str:
        """Fill the script's `@@name@@` placeholders, safely, and submit it as a U-SQL job."""
        from airflow_provider_mlpipe.runtime.usql import substitute

        ti = context["ti"]
        values = self._placeholder_values(data, locations, self._binding(context), ti)
        template = Path(self.script_path).read_text(encoding="utf-8-sig")
        script = substitute(template, values, self.step_name)
        hook = self.hook
        spec = self.usql_spec
        job_id = hook.submit(
            f"{ti.dag_id}.{ti.task_id}",
            script,
            spec.get("degree_of_parallelism"),
            spec.get("priority"),
            spec.get("runtime_version"),
        )
        self.job_id = job_id
        self.job_url = hook.job_url(job_id)
        ti.xcom_push(key=ADLA_JOB_ID_KEY, value=job_id)
        ti.xcom_push(key=ADLA_JOB_URL_KEY, value=self.job_url)
        self.log.info("Step %r: ADLA job %s: %s", self.step_name, job_id, self.job_url)
        return job_id

    def job_state(self, job_id: str) -> dict[str, Any]:
        return self.hook.get_job_state(job_id)

    def ended(self, state: dict[str, Any]) -> bool:
        return state["state"] == "Ended"

    def trigger(self, job_id: str) -> BaseTrigger:
        from airflow_provider_mlpipe.triggers.adla import AdlaJobTrigger

        return AdlaJobTrigger(job_id, self.adla_conn_id, self.poll_seconds())

    def cancel(self, job_id: str) -> None:
        self.hook.cancel(job_id)

    @functools.cached_property
    def hook(self) -> AdlaHook:
        """The hook of this try, made once (it reads the connection when made)."""
        from airflow_provider_mlpipe.hooks.adla import AdlaHook

        return AdlaHook(self.adla_conn_id)

        return AdlaHook(self.adla_conn_id)

    def check_success(self, state: dict[str, Any]) -> dict[str, Any]:
        """Fail with each of the job's error messages (id, line, message) unless it succeeded."""
        job_id = state["job_id"]
        self.job_url = self.job_url or self.hook.job_url(job_id)
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

    def _binding(self, context: Any) -> Binding:
        from airflow_provider_mlpipe.tokens import Binding

        return Binding(self.step_name, context.get("params") or {})

    def key_components(
        self, data: AttemptData, locations: list[InputLocation], context: Any
    ) -> list[KeyComponent]:
        """The script (or its whole source folder), job settings and bound params."""
        from airflow_provider_mlpipe.runtime.reuse_key import source_component, value_component
        from airflow_provider_mlpipe.runtime.snapshot import snapshot_files

        script = Path(self.script_path)
        source = Path(self.source_directory) if self.source_directory else None
        files = snapshot_files(source) if source else [script.name]
        settings = {
            k: self.usql_spec.get(k)
            for k in ("script_name", "degree_of_parallelism", "priority", "runtime_version")
        }
        return [
            source_component(source, script, files),
            value_component("job", settings),
            value_component("params", self._binding(context).mapping(self.usql_spec.get("params", {}))),
            value_component("version", self.step_version),
        ]

    def _placeholder_values(
        self, data: AttemptData, locations: list[InputLocation], binding: Binding, ti: Any
    ) -> dict[str, str]:
        """`@@name@@` values: input and output paths as U-SQL sees them, and the bound params."""
        values = {
            location.name: data.client(location.datastore).usql_path(location.path) for location in locations
        }
        for output in self.outputs:
            client, path = data.output_location(output, ti.dag_id, ti.run_id, ti.task_id)
            client.delete(path)  # an earlier, failed attempt's files
            values[output["name"]] = client.usql_path(path)
        return {**values, **binding.mapping(self.usql_spec.get("params", {}))}
