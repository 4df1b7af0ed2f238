"""`PipelineStepOperator`: the one sequence every step operator runs.

`execute` owns it: stop if the run failed -> locate the inputs -> build the reuse key ->
decide -> hand on a HIT, or run -> publish the outputs -> record. A step kind supplies only
its parts: `key_components()` (what besides the data makes its result) and `run()` (do the
work), and declares its keyword arguments in `kind_arguments` instead of an `__init__`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_mlpipe.contract import CONTINUE_ON_STEP_FAILURE, REGENERATE_OUTPUTS, REUSE_XCOM_KEY
from airflow_provider_mlpipe.links import ReusedFromLink
from airflow_provider_mlpipe.operators.templating import TokenField, env_markers, render_token_fields

if TYPE_CHECKING:
    import jinja2

    from airflow_provider_mlpipe.hooks.reuse_cache import ReuseDecision
    from airflow_provider_mlpipe.operators.outcome import PendingRecord, StepOutcome
    from airflow_provider_mlpipe.runtime.reuse_key import KeyComponent, ReuseKey
    from airflow_provider_mlpipe.runtime.step_data import AttemptData, InputLocation
    from airflow_provider_mlpipe.specs import InputSpec, OutputRecord, OutputSpec

#: A `kind_arguments` default meaning "must be given".
REQUIRED: Any = object()


class PipelineStepOperator(BaseOperator):
    """Base of the operators that run pipeline steps; a kind implements `key_components` and `run`."""

    operator_extra_links: tuple = (ReusedFromLink(),)
    #: v1's name of the step kind, the first component of its reuse key.
    step_kind: ClassVar[str]
    #: Bump when the same inputs would make the kind produce different outputs (it resets reuse).
    semantics_version: ClassVar[int] = 1
    #: The operator's own keyword arguments and their defaults, merged along the class hierarchy
    #: (REQUIRED: no default; `list`/`dict`: a fresh empty one when missing or None). Each becomes
    #: an attribute of the same name; a kind adds its own.
    kind_arguments: ClassVar[Mapping[str, Any]] = {
        "step_name": REQUIRED,
        "inputs": list,
        "outputs": list,
        "allow_reuse": True,
        "step_version": None,
        "regenerate_outputs": False,
    }
    _all_kind_arguments: ClassVar[dict[str, Any]] = dict(kind_arguments)
    #: This try's MISS, set before `run` (a remote kind hands it to XCom when it defers).
    pending: PendingRecord
    #: This try's reuse decision as pushed to XCom (read by the "Reused from" link).
    reuse_decision: dict[str, Any] | None = None
    step_name: str
    inputs: list[InputSpec]
    outputs: list[OutputSpec]
    allow_reuse: bool
    step_version: str | None
    regenerate_outputs: bool

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        merged: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            merged.update(vars(klass).get("kind_arguments", {}))
        cls._all_kind_arguments = merged

    # No __init__: Airflow wraps every class level that defines one in `apply_defaults`, which
    # deep-copies the DAG's params each time (~60 us per task and level). The step's arguments
    # are taken instead in `_hook_apply_defaults`, the hook Airflow's own `@task` operators use
    # to adjust their arguments before `BaseOperator.__init__` sees them.

    def _hook_apply_defaults(self, *args: Any, **kwargs: Any) -> tuple[tuple, dict[str, Any]]:
        """Take the step's own arguments (`kind_arguments`, also from `default_args`) as attributes;
        pass the rest on. Once per operator, whatever the number of class levels with an __init__."""
        attributes = vars(self)
        if "_kind_arguments_taken" in attributes:
            return args, kwargs
        defaults = kwargs.get("default_args") or {}
        values: dict[str, Any] = {}
        for name, default in self._all_kind_arguments.items():
            value = kwargs.pop(name) if name in kwargs else defaults.get(name, default)
            if value is REQUIRED:
                raise TypeError(f"{type(self).__name__}: missing keyword argument {name!r}")
            if (value is None or value is default) and (default is list or default is dict):
                value = default()
            values[name] = value
        self.prepare(values)
        # The step's name as written is the task's display name: the UI shows it, and the task
        # instance keeps it (`task_display_name`), where `find_step_run(name)` looks it up.
        kwargs.setdefault("task_display_name", values["step_name"])
        values["_kind_arguments_taken"] = True
        # Written straight to the instance: BaseOperator.__setattr__ expects its own __init__ to
        # have run (and would cost ~2 us per attribute).
        attributes.update(values)
        return args, kwargs

    def prepare(self, arguments: dict[str, Any]) -> None:
        """Complete the kind's arguments before they become attributes (a default that depends on
        another, a setting read from Airflow's config); nothing by default."""

    # The kind's parts

    def key_components(
        self, data: AttemptData, locations: list[InputLocation], context: Any
    ) -> list[KeyComponent]:
        """What besides the kind and the data makes the step's result (code, arguments, settings)."""
        raise NotImplementedError

    def run(self, context: Any, data: AttemptData, locations: list[InputLocation]) -> StepOutcome:
        """Do the step's work; raise an AirflowException naming the step unless it succeeded."""
        raise NotImplementedError

    @contextmanager
    def step_data(self, context: Any) -> Iterator[AttemptData]:
        """The attempt's inputs and outputs, in a private working folder removed when it ends."""
        from airflow_provider_mlpipe.runtime.step_data import AttemptData
        from airflow_provider_mlpipe.runtime.workdir import attempt_folder

        with attempt_folder(self.task_id[:40]) as workdir:
            yield AttemptData(self.step_name, workdir, self.log)

    # The sequence

    def execute(self, context: Any) -> dict[str, OutputRecord]:
        self.stop_if_run_failed(context)
        with self.step_data(context) as data:
            locations = self.locate_inputs(data, context)
            key = self.reuse_key(data, locations, context)
            decision = self.decide_reuse(data, key, context)
            if decision.hit:
                return self.hand_on_reused(context["ti"], key, decision.entry)  # type: ignore[arg-type]
            from airflow_provider_mlpipe.operators.outcome import PendingRecord

            self.pending = PendingRecord(key, decision.reason, decision.stale)
            outcome = self.run(context, data, locations)
            return self.finish(context, data, self.pending, outcome)

    def finish(
        self, context: Any, data: AttemptData, pending: PendingRecord, outcome: StepOutcome
    ) -> dict[str, OutputRecord]:
        """After a successful run: publish the outputs, record them for reuse, return their records."""
        records = self.publish_outputs(context["ti"], data, outcome)
        return self.record_for_reuse(context["ti"], data, pending, records, outcome)

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

    def locate_inputs(self, data: AttemptData, context: Any) -> list[InputLocation]:
        """Where each input is: DataReferences as declared, PipelineData from the producer's XCom,
        DataPath parameters from the run's params."""
        ti = context["ti"]
        pull: Callable[[str], Any] = lambda task_id: ti.xcom_pull(task_ids=task_id, key="return_value")  # noqa: E731
        params = context.get("params") or {}
        return [data.locate_input(spec, pull, params) for spec in self.inputs]

    def reuse_key(self, data: AttemptData, locations: list[InputLocation], context: Any) -> ReuseKey:
        """The kind and its semantics version, the kind's components, then the data's."""
        from airflow_provider_mlpipe.runtime.reuse_key import ReuseKey, value_component

        kind = value_component("step", {"kind": self.step_kind, "semantics": self.semantics_version})
        own = self.key_components(data, locations, context)
        return ReuseKey((kind, *own, *self.data_components(data, locations)))

    def data_components(self, data: AttemptData, locations: list[InputLocation]) -> list[KeyComponent]:
        """Key components for the data: each input's identity now, each output's datastore."""
        from airflow_provider_mlpipe.runtime.reuse_key import KeyComponent, value_component

        components = []
        for location in locations:
            digest, detail = data.input_identity(location)
            components.append(KeyComponent(f"input {location.name}", digest, detail))
        for spec in self.outputs:
            where = {"datastore": data.output_datastore(spec), "is_directory": spec.get("is_directory")}
            components.append(value_component(f"output {spec['name']}", where))
        return components

    def decide_reuse(self, data: AttemptData, key: ReuseKey, context: Any) -> ReuseDecision:
        """Look the key up in the reuse index shared by every worker; log a MISS with its reason."""
        decision = self.reuse_index(data).decide(
            key, self.allow_reuse, self.regenerate(context), data.output_exists
        )
        if not decision.hit:
            self.log.info(
                "Reuse: MISS (%s), running step %r; key %s\n%s",
                decision.reason,
                self.step_name,
                key.digest,
                "\n".join(key.describe()),
            )
        return decision

    def reuse_index(self, data: AttemptData) -> Any:
        """The reuse index on the datastore of the step's outputs (else the default's)."""
        from airflow_provider_mlpipe.hooks.reuse_cache import ReuseCacheHook, reuse_datastore_name

        outputs_on = data.output_datastore(self.outputs[0]) if self.outputs else None
        return ReuseCacheHook(reuse_datastore_name(outputs_on))

    def hand_on_reused(self, ti: Any, key: ReuseKey, entry: dict[str, Any]) -> dict[str, OutputRecord]:
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
        return records  # type: ignore[return-value]

    def publish_outputs(self, ti: Any, data: AttemptData, outcome: StepOutcome) -> dict[str, OutputRecord]:
        """Store what the run wrote locally; describe, from a listing, what it wrote to datastores."""
        records = {}
        for spec in self.outputs:
            name = spec["name"]
            if name in outcome.local_outputs:
                local = outcome.local_outputs[name]
                records[name] = data.publish_output(spec, local, ti.dag_id, ti.run_id, ti.task_id)
            else:
                at = outcome.written_at.get(name)
                records[name] = data.written_output(spec, ti.dag_id, ti.run_id, ti.task_id, at=at)
        return records  # type: ignore[return-value]

    def record_for_reuse(
        self,
        ti: Any,
        data: AttemptData,
        pending: PendingRecord,
        records: dict[str, OutputRecord],
        outcome: StepOutcome,
    ) -> dict[str, OutputRecord]:
        """Record the reuse entry (create-only, or in place of the stale one) and say so in XCom.

        The entry holds the run's `metrics`, for a HIT to hand on.
        """
        key = pending.key
        for output in records.values():
            output["reuse_key"] = key.digest
        source = {
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "task_id": ti.task_id,
            "try_number": ti.try_number,
        }
        written = False  # a step that may never be reused leaves no entry to find
        stale = pending.stale
        if self.allow_reuse:
            written = self.reuse_index(data).record(
                key, records, source, outcome.run_record, replace=stale, metrics=outcome.metrics
            )
            if written and stale:
                self.log.info("Reuse: replaced the stale entry %s (%s)", key.digest, pending.reason)
            elif written:
                self.log.info("Reuse: recorded entry %s", key.digest)
            else:
                self.log.info("Reuse: entry %s was already recorded by another run; kept it", key.digest)
        ti.xcom_push(
            key=REUSE_XCOM_KEY,
            value={
                "decision": "miss",
                "reason": pending.reason,
                "key": key.digest,
                "recorded": written,
                "replaced": bool(written and stale),
                **outcome.run_record,
            },
        )
        return records

    # Templating

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
