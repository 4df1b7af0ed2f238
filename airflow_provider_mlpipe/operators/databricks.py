"""`DatabricksStepOperator`: runs one `DatabricksStep` as a one-time Databricks run.

The run id is stored in XCom before waiting (so a killed task can still be traced and its
run cancelled); waiting is done here or, when deferrable, by `DatabricksRunTrigger` on the
triggerer. Inputs and outputs reach the run as datastore URIs: notebook widgets by name,
script arguments `--<name> <uri>`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk.exceptions import AirflowException

from airflow_provider_mlpipe.links import (
    DATABRICKS_RUN_ID_KEY,
    DATABRICKS_RUN_PAGE_URL_KEY,
    DatabricksRunLink,
    ReusedFromLink,
)
from airflow_provider_mlpipe.operators.base import REQUIRED
from airflow_provider_mlpipe.operators.remote import RemoteStepOperator
from airflow_provider_mlpipe.operators.templating import TokenField

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_mlpipe.hooks.databricks import DatabricksHook
    from airflow_provider_mlpipe.runtime.reuse_key import KeyComponent
    from airflow_provider_mlpipe.runtime.step_data import AttemptData, InputLocation
    from airflow_provider_mlpipe.tokens import Binding

#: The templated step argument of each task kind: the literals among its parameters, by v1's name.
TOKEN_FIELDS = {
    "notebook": (TokenField("task_spec", "base_parameters", "notebook_params"),),
    "jar": (TokenField("task_spec", "parameters", "jar_params"),),
    "python": (TokenField("task_spec", "parameters", "python_script_params"),),
}


class DatabricksStepOperator(RemoteStepOperator):
    """Submit a step's Databricks run, wait for it (here or deferred), hand on its outputs.

    Templated: the literals among the task's parameters (v1's `notebook_params`,
    `python_script_params`, `jar_params`). Nothing else in `task_spec` or `cluster_spec` is: the
    cluster's Spark conf and environment hold Databricks' own `{{secrets/scope/key}}` references.
    """

    template_fields: Sequence[str] = ("task_spec",)
    template_fields_renderers = {"task_spec": "json"}
    operator_extra_links = (DatabricksRunLink(), ReusedFromLink())
    ui_color = "#fde7d8"
    poll_option = "databricks_poll_seconds"

    step_kind = "DatabricksStep"
    job_noun = "Databricks run"
    kind_arguments: ClassVar[dict[str, Any]] = {
        "task_spec": REQUIRED,
        "cluster_spec": REQUIRED,
        "libraries": list,
        "run_name": None,
        "timeout_seconds": None,
        "databricks_conn_id": "databricks_default",
        "source_directory": None,
    }
    #: The run's page in the workspace (read by the "Databricks run" link).
    run_page_url: str | None = None
    _snapshot: list[str] = []

    def prepare(self, arguments: dict[str, Any]) -> None:
        """`run_name` unset: the step's name."""
        super().prepare(arguments)
        arguments["run_name"] = arguments["run_name"] or arguments["step_name"]

    def token_fields(self) -> Sequence[TokenField]:
        kind = self.task_spec.get("kind") if isinstance(self.task_spec, dict) else None
        return TOKEN_FIELDS.get(kind, TOKEN_FIELDS["python"])  # type: ignore[arg-type]

    # Submitting and waiting

    def submit(self, context: Any, data: AttemptData, locations: list[InputLocation]) -> int:
        """Upload the code if needed, submit the run (or re-attach), and say where it is."""
        ti = context["ti"]
        task = self._task_json(data, locations, self._binding(context), ti)
        hook = self.hook
        run_id = self._submit_or_attach(hook, task, ti)
        state = hook.get_run_state(run_id)
        self.run_page_url = state["run_page_url"]
        ti.xcom_push(key=DATABRICKS_RUN_PAGE_URL_KEY, value=self.run_page_url)
        self.log.info("Step %r: Databricks run %s: %s", self.step_name, run_id, state["run_page_url"])
        return run_id

    def job_state(self, job_id: int) -> dict[str, Any]:
        return self.hook.get_run_state(job_id)

    def ended(self, state: dict[str, Any]) -> bool:
        from airflow_provider_mlpipe.hooks.databricks import TERMINAL_STATES

        return state["life_cycle_state"] in TERMINAL_STATES

    def trigger(self, job_id: int) -> BaseTrigger:
        from airflow_provider_mlpipe.triggers.databricks import DatabricksRunTrigger

        return DatabricksRunTrigger(job_id, self.databricks_conn_id, self.poll_seconds())

    def cancel(self, job_id: int) -> None:
        self.hook.cancel(job_id)

    @functools.cached_property
    def hook(self) -> DatabricksHook:
        """The hook of this try, made once (it reads the connection when made)."""
        from airflow_provider_mlpipe.hooks.databricks import DatabricksHook

        return DatabricksHook(self.databricks_conn_id)

        return DatabricksHook(self.databricks_conn_id)

    def _submit_or_attach(self, hook: DatabricksHook, task: dict[str, Any], ti: Any) -> int:
        """Submit with an idempotency token; a retry re-attaches to the previous try's run unless it failed.

        So a worker that died while waiting does not cause a second run, and a failed run is retried.
        """
        from airflow_provider_mlpipe.hooks.databricks import TERMINAL_STATES

        run_id = None
        if ti.try_number > 1:
            previous = hook.submit(
                self.run_name, task, self._token(ti, ti.try_number - 1), self.timeout_seconds
            )
            state = hook.get_run_state(previous)
            if state["life_cycle_state"] not in TERMINAL_STATES or state["result_state"] == "SUCCESS":
                self.log.info("Step %r: re-attaching to run %s of the previous try", self.step_name, previous)
                run_id = previous
        if run_id is None:
            run_id = hook.submit(self.run_name, task, self._token(ti, ti.try_number), self.timeout_seconds)
        self.job_id = run_id
        ti.xcom_push(key=DATABRICKS_RUN_ID_KEY, value=run_id)
        return run_id

    @staticmethod
    def _token(ti: Any, try_number: int) -> str:
        from airflow_provider_mlpipe.runtime.content_hash import bytes_digest

        return "mlpipe-" + bytes_digest(f"{ti.dag_id}|{ti.run_id}|{ti.task_id}|{try_number}".encode())[:40]

    def check_success(self, state: dict[str, Any]) -> dict[str, Any]:
        """Fail with the run's state message and the task's error output unless it succeeded."""
        run_id = state["run_id"]
        self.run_page_url = state.get("run_page_url")
        if state.get("result_state") != "SUCCESS":
            detail = self.hook.error_output(state.get("task_run_ids") or [])
            raise AirflowException(
                f"step {self.step_name!r}: Databricks run {run_id} ended {state.get('life_cycle_state')}/"
                f"{state.get('result_state')}: {state.get('state_message')}"
                + (f"\n{detail}" if detail else "")
            )
        return {"databricks": {"run_id": run_id, "run_page_url": self.run_page_url}}

    # What runs

    def _snapshot_files(self) -> list[str]:
        if self.task_spec["kind"] != "python_script":
            return []
        from airflow_provider_mlpipe.runtime.snapshot import snapshot_files

        return snapshot_files(Path(self.source_directory))  # type: ignore[arg-type]

    def key_components(
        self, data: AttemptData, locations: list[InputLocation], context: Any
    ) -> list[KeyComponent]:
        """The code (an uploaded script's snapshot), the bound task, libraries, Spark version/conf."""
        from airflow_provider_mlpipe.runtime.reuse_key import source_component, value_component

        self._snapshot = self._snapshot_files()
        cluster = self.cluster_spec.get("new_cluster", {})
        spark = {k: cluster.get(k) for k in ("spark_version", "spark_conf", "spark_env_vars")}
        components = [
            value_component("task", self._bound_task_spec(self._binding(context))),
            value_component("libraries", self.libraries),
            value_component("spark", spark if cluster else dict(self.cluster_spec)),
            value_component("version", self.step_version),
        ]
        if self._snapshot:
            source = Path(self.source_directory)  # type: ignore[arg-type]
            script = source / self.task_spec["python_script_name"]
            components.insert(0, source_component(source, script, self._snapshot))
        return components

    def _binding(self, context: Any) -> Binding:
        from airflow_provider_mlpipe.tokens import Binding

        return Binding(self.step_name, context.get("params") or {})

    def _bound_task_spec(self, binding: Binding) -> dict[str, Any]:
        """The task spec with pipeline parameter values bound (not yet the data URIs)."""
        spec = dict(self.task_spec)
        if "parameters" in spec:
            spec["parameters"] = binding.texts(spec["parameters"])
        if "base_parameters" in spec:
            spec["base_parameters"] = binding.mapping(spec["base_parameters"])
        return spec

    def _task_json(
        self, data: AttemptData, locations: list[InputLocation], binding: Binding, ti: Any
    ) -> dict[str, Any]:
        """The Jobs API task: its code, cluster, libraries, and the data URIs as widgets/arguments."""
        spec = self._bound_task_spec(binding)
        uris = {
            location.name: data.client(location.datastore).spark_uri(location.path) for location in locations
        }
        for output in self.outputs:
            client, path = data.output_location(output, ti.dag_id, ti.run_id, ti.task_id)
            client.delete(path)  # an earlier, failed attempt's files
            uris[output["name"]] = client.spark_uri(path)
        flags = [item for name, uri in uris.items() for item in (f"--{name}", uri)]
        kind = spec["kind"]
        task: dict[str, Any] = {"task_key": "mlpipe_step", **self.cluster_spec}
        if kind == "notebook":
            widgets = {**spec["base_parameters"], **uris}
            task["notebook_task"] = {"notebook_path": spec["notebook_path"], "base_parameters": widgets}
        elif kind == "python_file":
            task["spark_python_task"] = {
                "python_file": spec["python_file"],
                "parameters": spec["parameters"] + flags,
            }
        elif kind == "python_script":
            python_file = self._upload_snapshot(self._snapshot)
            task["spark_python_task"] = {"python_file": python_file, "parameters": spec["parameters"] + flags}
        else:
            parameters = spec["parameters"] + flags
            task["spark_jar_task"] = {"main_class_name": spec["main_class_name"], "parameters": parameters}
        if self.libraries:
            task["libraries"] = self.libraries
        if self.timeout_seconds:
            task["timeout_seconds"] = self.timeout_seconds
        return task

    def _upload_snapshot(self, snapshot: list[str]) -> str:
        """Copy the source folder to DBFS under its content digest; returns the script's DBFS path."""
        from airflow_provider_mlpipe.runtime.content_hash import tree_digest

        source = Path(self.source_directory)  # type: ignore[arg-type]
        folder = f"dbfs:/mlpipe/code/{tree_digest(source, snapshot).digest[:32]}"
        hook = self.hook
        for relative in snapshot:
            hook.upload_to_dbfs(source / relative, f"{folder}/{relative}")
        self.log.info(
            "Step %r: uploaded %d file(s) of %s to %s", self.step_name, len(snapshot), source, folder
        )
        return f"{folder}/{self.task_spec['python_script_name']}"
