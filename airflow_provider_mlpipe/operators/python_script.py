"""`PythonScriptStepOperator`: runs one `PythonScriptStep` on an Airflow worker, or reuses it."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_mlpipe.operators.base import PipelineStepOperator
from airflow_provider_mlpipe.operators.templating import TokenField

if TYPE_CHECKING:
    from airflow_provider_mlpipe.hooks.reuse_cache import ReuseKey
    from airflow_provider_mlpipe.runtime.process import ScriptProcess
    from airflow_provider_mlpipe.runtime.step_data import InputLocation, StepData

_NOT_WORD = re.compile(r"\W", re.ASCII)

#: Bump when the same inputs would make this operator produce different outputs (it resets reuse).
SEMANTICS_VERSION = 1
#: The templated step arguments: the literals among `arguments` and `step_params` (v1's `params`).
TOKEN_FIELDS = (TokenField("arguments", None, "arguments"), TokenField("step_params", None, "params"))


def env_name(prefix: str, name: str) -> str:
    """v1's environment variable names: non-word characters become '_'."""
    return prefix + _NOT_WORD.sub("_", name)


class PythonScriptStepOperator(PipelineStepOperator):
    """Run a step's script in a subprocess with its inputs, outputs and parameters bound.

    Built by `Pipeline.to_dag`; the arguments are plain values so the operator can also be
    used on its own. The literals among `arguments` and `step_params` (v1's `params`) are Jinja
    templates, rendered before the reuse key is computed. Before running, the step's reuse key
    is looked up in the reuse index: on a hit the recorded outputs are handed on and nothing
    runs. Outputs are published, recorded and returned as XCom records only when the script
    succeeded.
    """

    ui_color = "#dbeafe"
    template_fields: Sequence[str] = ("arguments", "step_params")
    template_fields_renderers = {"arguments": "json", "step_params": "json"}

    def __init__(
        self,
        *,
        step_name: str,
        script_name: str,
        script_path: str,
        source_directory: str | None = None,
        arguments: list[dict[str, Any]] | None = None,
        inputs: list[dict[str, Any]] | None = None,
        outputs: list[dict[str, Any]] | None = None,
        step_params: dict[str, dict[str, Any]] | None = None,
        python_interpreter: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(step_name=step_name, inputs=inputs, outputs=outputs, **kwargs)
        self.script_name = script_name
        self.script_path = script_path
        self.source_directory = source_directory
        # Templated fields are kept as given (an XComArg resolves when the task runs).
        self.arguments = arguments if arguments is not None else []
        self.step_params = step_params if step_params is not None else {}
        self.python_interpreter = python_interpreter
        self._process: ScriptProcess | None = None

    def token_fields(self) -> Sequence[TokenField]:
        return TOKEN_FIELDS

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        self.stop_if_run_failed(context)
        # Run-time modules are imported here, not at the top: DAG files import this module.
        from airflow_provider_mlpipe.runtime.run_record import git_info
        from airflow_provider_mlpipe.runtime.step_data import StepData, StepDataError
        from airflow_provider_mlpipe.runtime.workdir import attempt_folder

        ti = context["ti"]
        params = context.get("params") or {}
        with attempt_folder(self.task_id[:40]) as workdir:
            data = StepData(self.step_name, workdir, self.log)
            try:
                locations = self.locate_inputs(data, context)
                snapshot = self._snapshot_files()
                key = self._reuse_key(data, locations, snapshot, params)
                cache, decision = self.decide(data, key, context)
            except StepDataError as error:
                raise AirflowException(str(error)) from error
            if decision.hit:
                return self.hand_on(ti, key, decision.entry)  # type: ignore[arg-type]
            run_record = {"git": git_info(Path(self.source_directory) if self.source_directory else None)}
            records, metrics = self._run(ti, data, locations, snapshot, params, workdir)
            return self.record(
                ti, cache, key, records, run_record, decision.reason, stale=decision.stale, metrics=metrics
            )

    def on_kill(self) -> None:
        if self._process is not None:
            self.log.info("Step %r: killing the script's process tree", self.step_name)
            self._process.kill()

    # Reuse

    def hand_on(self, ti: Any, key: ReuseKey, entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """A HIT also hands on the metrics the original run logged (none for entries older than metrics)."""
        from airflow_provider_mlpipe.contract import METRICS_XCOM_KEY

        records = super().hand_on(ti, key, entry)
        metrics = entry.get("metrics")
        ti.xcom_push(key=METRICS_XCOM_KEY, value=metrics if isinstance(metrics, dict) else {})
        return records

    def _reuse_key(
        self, data: StepData, locations: list[InputLocation], snapshot: list[str], params: Any
    ) -> ReuseKey:
        from airflow_provider_mlpipe.hooks.reuse_cache import ReuseKey
        from airflow_provider_mlpipe.runtime.reuse_key import (
            interpreter_identity,
            source_component,
            value_component,
        )

        source = Path(self.source_directory) if self.source_directory else None
        arguments = [self._bind_for_key(token, params) for token in self.arguments]
        components = [
            value_component("step", {"kind": "PythonScriptStep", "semantics": SEMANTICS_VERSION}),
            source_component(source, Path(self.script_path), snapshot),
            value_component("script", self.script_name),
            value_component("arguments", arguments, " ".join(arguments)),
            value_component("params", self._bound_params(params)),
            value_component("version", self.step_version),
            value_component("interpreter", interpreter_identity(self.python_interpreter)),
        ]
        return ReuseKey(tuple(components + self.data_components(data, locations)))

    # Running

    def _snapshot_files(self) -> list[str]:
        """The files of the source folder that belong to the step (checked against the size guard)."""
        if not self.source_directory:
            return [self.script_name]
        from airflow_provider_mlpipe.runtime.run_record import check_snapshot_size, snapshot_limits
        from airflow_provider_mlpipe.runtime.snapshot import snapshot_files

        source = Path(self.source_directory)
        files = snapshot_files(source)
        if self.script_name not in files:
            raise AirflowException(
                f"step {self.step_name!r}: script {self.script_name} is not in the snapshot of "
                f"{self.source_directory} (missing, or excluded by .amlignore/.gitignore)"
            )
        max_bytes, max_files = snapshot_limits()
        try:
            check_snapshot_size(self.step_name, source, files, max_bytes, max_files)
        except ValueError as error:
            raise AirflowException(str(error)) from error
        return files

    def _run(
        self,
        ti: Any,
        data: StepData,
        locations: list[InputLocation],
        snapshot: list[str],
        params: Any,
        workdir: Path,
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """Run the script; returns the output records and the metrics it logged.

        The metrics are written and pushed to XCom whatever the exit code, so a failed
        script's metrics help to debug it; outputs are published only after a success.
        """
        from airflow_provider_mlpipe.runtime.metrics import StepMetrics
        from airflow_provider_mlpipe.runtime.process import ScriptProcess
        from airflow_provider_mlpipe.runtime.step_data import StepDataError

        try:
            input_paths = {location.name: data.materialize_input(location) for location in locations}
            output_paths = {spec["name"]: data.output_folder(spec) for spec in self.outputs}
        except StepDataError as error:
            raise AirflowException(str(error)) from error
        code_dir = self._working_copy(workdir / "code", snapshot)
        argv = [self.python_interpreter or sys.executable, str(code_dir / self.script_name)]
        argv += [self._bind(token, input_paths, output_paths, params) for token in self.arguments]
        env = self._environment(input_paths, output_paths, params)
        metrics = StepMetrics(workdir / "metrics", self.log)
        env.update(metrics.environment(ti.dag_id, ti.run_id, ti.task_id, env.get("PYTHONPATH")))
        self.log.info("Step %r: running %s", self.step_name, " ".join(argv))
        self._process = ScriptProcess(argv, code_dir, env, self.log, workdir=workdir)
        code = self._process.run()
        logged = metrics.publish(ti, data, self.outputs[0].get("datastore") if self.outputs else None)
        if code != 0:
            tail = "\n".join(self._process.stderr_tail) or "(no stderr)"
            raise AirflowException(
                f"step {self.step_name!r}: script {self.script_name} exited with code {code}; "
                f"last lines of stderr:\n{tail}"
            )
        try:
            records = {
                spec["name"]: data.publish_output(
                    spec, output_paths[spec["name"]], ti.dag_id, ti.run_id, ti.task_id
                )
                for spec in self.outputs
            }
            return records, logged
        except StepDataError as error:
            raise AirflowException(str(error)) from error

    def _working_copy(self, destination: Path, snapshot: list[str]) -> Path:
        """A private copy of the snapshot of the source folder, or of the script alone."""
        from airflow_provider_mlpipe.runtime.snapshot import copy_snapshot

        destination.mkdir(parents=True)
        if self.source_directory:
            copy_snapshot(Path(self.source_directory), destination, snapshot)
        else:
            shutil.copy2(self.script_path, destination / self.script_name)
        return destination

    def _bind(
        self, token: dict[str, Any], inputs: dict[str, Path], outputs: dict[str, Path], params: Any
    ) -> str:
        if "input" in token:
            return str(inputs[token["input"]])
        if "output" in token:
            return str(outputs[token["output"]])
        if "parameter" in token:
            return _parameter_text(self.step_name, token["parameter"], params)
        return str(token["value"])

    def _bind_for_key(self, token: dict[str, Any], params: Any) -> str:
        """An argument as the key sees it: parameter values bound, data as its name (paths vary)."""
        if "input" in token:
            return f"<input {token['input']}>"
        if "output" in token:
            return f"<output {token['output']}>"
        return self._bind(token, {}, {}, params)

    def _bound_params(self, params: Any) -> dict[str, str]:
        return {
            name: _parameter_text(self.step_name, value["parameter"], params)
            if "parameter" in value
            else str(value["value"])
            for name, value in self.step_params.items()
        }

    def _environment(self, inputs: dict[str, Path], outputs: dict[str, Path], params: Any) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        for name, path in {**inputs, **outputs}.items():
            env[env_name("AZUREML_DATAREFERENCE_", name)] = str(path)
        for name, text in self._bound_params(params).items():
            env[env_name("AML_PARAMETER_", name)] = text
        return env


def _parameter_text(step_name: str, name: str, params: Any) -> str:
    """A pipeline parameter's value for this run, as the script sees it on its command line."""
    try:
        value = params[name]
    except KeyError:
        raise AirflowException(
            f"step {step_name!r}: pipeline parameter {name!r} has no value in this run"
        ) from None
    text = str(value)
    if "\n" in text:
        raise AirflowException(
            f"step {step_name!r}: pipeline parameter {name!r} is multi-line, which is not supported"
        )
    return text
