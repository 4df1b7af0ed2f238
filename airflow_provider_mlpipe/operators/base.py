"""`PipelineStepOperator`: what every step operator shares.

Inputs come from the producers' XCom records, the reuse key ends with the inputs' data
identity and the outputs' datastores, and the reuse decision is made, explained, handed
on (HIT) or recorded after a successful run (MISS) in the same way for every step kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_mlpipe.contract import CONTINUE_ON_STEP_FAILURE, REGENERATE_OUTPUTS, REUSE_XCOM_KEY
from airflow_provider_mlpipe.links import ReusedFromLink
from airflow_provider_mlpipe.operators.templating import TokenField, env_markers, render_token_fields

if TYPE_CHECKING:
    import jinja2

    from airflow_provider_mlpipe.hooks.reuse_cache import (
        KeyComponent,
        ReuseCacheHook,
        ReuseDecision,
        ReuseKey,
    )
    from airflow_provider_mlpipe.runtime.step_data import InputLocation, StepData


class PipelineStepOperator(BaseOperator):
    """Base of the operators that run pipeline steps; subclasses do the run itself."""

    operator_extra_links: tuple = (ReusedFromLink(),)

    def __init__(
        self,
        *,
        step_name: str,
        inputs: list[dict[str, Any]] | None = None,
        outputs: list[dict[str, Any]] | None = None,
        allow_reuse: bool = True,
        step_version: str | None = None,
        regenerate_outputs: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.step_name = step_name
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.allow_reuse = allow_reuse
        self.step_version = step_version
        self.regenerate_outputs = regenerate_outputs
        #: This try's reuse decision as pushed to XCom (read by the "Reused from" link).
        self.reuse_decision: dict[str, Any] | None = None

    def token_fields(self) -> Sequence[TokenField]:
        """Where the step's parameter tokens are among its template fields (operators/templating.py)."""
        return ()

    def render_template_fields(self, context: Any, jinja_env: jinja2.Environment | None = None) -> None:
        """Render only the literals among the step's tokens; any other template field as Airflow does.

        References (input, output and parameter names) are never rendered, and parameter values
        are bound after rendering, so a run's conf cannot inject a template.
        """
        if not jinja_env:
            jinja_env = self.get_template_env()
        locations = [location for location in self.token_fields() if location.field in self.template_fields]
        tokens = {location.field for location in locations}
        others = [field for field in self.template_fields if field not in tokens]
        if others:
            self._do_render_template_fields(self, others, context, jinja_env, set())
        render = lambda value: self.render_template(value, context, jinja_env)  # noqa: E731
        render_token_fields(self, locations, render, env_markers(jinja_env))

    def regenerate(self, context: Any) -> bool:
        """`regenerate_outputs` from the run's conf, else the DAG param, else the to_dag default."""
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        if REGENERATE_OUTPUTS in conf:
            return bool(conf[REGENERATE_OUTPUTS])
        params = context.get("params") or {}
        return bool(params.get(REGENERATE_OUTPUTS, self.regenerate_outputs))

    def stop_if_run_failed(self, context: Any) -> None:
        """v1's `continue_on_step_failure=False`: start no step once a step of this run has failed.

        Read from the run's conf or param `continue_on_step_failure` (a published pipeline's
        default), so each run may choose; steps already running finish.
        """
        from airflow.sdk.exceptions import AirflowSkipException

        params = context.get("params") or {}
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        keep_going = conf.get(CONTINUE_ON_STEP_FAILURE, params.get(CONTINUE_ON_STEP_FAILURE, True))
        if keep_going:
            return
        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        failed = sorted(
            task for task, state in states.items() if str(state).endswith("failed") and task != ti.task_id
        )
        if failed:
            raise AirflowSkipException(
                f"step {self.step_name!r} not started: step(s) {', '.join(failed)} failed and this run has "
                "continue_on_step_failure=False"
            )

    def locate_inputs(self, data: StepData, context: Any) -> list[InputLocation]:
        """Where each input is: DataReferences as declared, PipelineData from the producer's XCom,
        DataPath parameters from the run's params."""
        ti = context["ti"]
        pull = lambda task_id: ti.xcom_pull(task_ids=task_id, key="return_value")  # noqa: E731
        params = context.get("params") or {}
        return [data.locate_input(spec, pull, params) for spec in self.inputs]

    def data_components(self, data: StepData, locations: list[InputLocation]) -> list[KeyComponent]:
        """Key components for the data: each input's identity now, each output's datastore."""
        from airflow_provider_mlpipe.hooks.reuse_cache import KeyComponent
        from airflow_provider_mlpipe.runtime.reuse_key import value_component

        components = []
        for location in locations:
            digest, detail = data.input_identity(location)
            components.append(KeyComponent(f"input {location.name}", digest, detail))
        for spec in self.outputs:
            where = {"datastore": data.output_datastore(spec), "is_directory": spec.get("is_directory")}
            components.append(value_component(f"output {spec['name']}", where))
        return components

    def decide(self, data: StepData, key: ReuseKey, context: Any) -> tuple[ReuseCacheHook, ReuseDecision]:
        """Look the key up in the reuse index shared by every worker; log a MISS with its reason."""
        from airflow_provider_mlpipe.hooks.reuse_cache import ReuseCacheHook, reuse_datastore_name

        outputs_on = data.output_datastore(self.outputs[0]) if self.outputs else None
        cache = ReuseCacheHook(reuse_datastore_name(outputs_on))
        decision = cache.decide(key, self.allow_reuse, self.regenerate(context), data.output_exists)
        if not decision.hit:
            self.log.info(
                "Reuse: MISS (%s), running step %r; key %s\n%s",
                decision.reason,
                self.step_name,
                key.digest,
                "\n".join(key.describe()),
            )
        return cache, decision

    def hand_on(self, ti: Any, key: ReuseKey, entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """A HIT: return the recorded outputs in the shape of a fresh run, and say where they came from."""
        source = entry["source"]
        self.log.info(
            "Reuse: HIT, step %r not run; outputs of %s / %s / %s (recorded %s); key %s\n%s",
            self.step_name,
            source["dag_id"],
            source["run_id"],
            source["task_id"],
            entry.get("created_at"),
            key.digest,
            "\n".join(key.describe()),
        )
        records = {
            name: {**r, "reused_from": source, "reuse_key": key.digest}
            for name, r in entry["outputs"].items()
        }
        self.reuse_decision = {"decision": "hit", "key": key.digest, "source": source}
        ti.xcom_push(key=REUSE_XCOM_KEY, value=self.reuse_decision)
        return records

    def record(
        self,
        ti: Any,
        cache: ReuseCacheHook,
        key: ReuseKey,
        records: dict[str, dict[str, Any]],
        run_record: dict[str, Any],
        reason: str,
        *,
        stale: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """After a successful run: record the reuse entry and say so in XCom.

        Create-only, or in place of the `stale` entry version the decision found (`ReuseDecision.stale`).
        `metrics` (what the step's script logged) go into the entry, for a HIT to hand on.
        """
        for output in records.values():
            output["reuse_key"] = key.digest
        source = {
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "task_id": ti.task_id,
            "try_number": ti.try_number,
        }
        written = False  # a step that may never be reused leaves no entry to find
        if self.allow_reuse:
            written = cache.record(key, records, source, run_record, replace=stale, metrics=metrics)
            if written and stale:
                self.log.info("Reuse: replaced the stale entry %s (%s)", key.digest, reason)
            elif written:
                self.log.info("Reuse: recorded entry %s", key.digest)
            else:
                self.log.info("Reuse: entry %s was already recorded by another run; kept it", key.digest)
        ti.xcom_push(
            key=REUSE_XCOM_KEY,
            value={
                "decision": "miss",
                "reason": reason,
                "key": key.digest,
                "recorded": written,
                "replaced": bool(written and stale),
                **run_record,
            },
        )
        return records
