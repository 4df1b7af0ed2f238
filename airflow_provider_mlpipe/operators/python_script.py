"""`PythonScriptStepOperator`: runs one `PythonScriptStep` on an Airflow worker."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

if TYPE_CHECKING:
    from airflow_provider_mlpipe.runtime.process import ScriptProcess

_NOT_WORD = re.compile(r"\W", re.ASCII)


def env_name(prefix: str, name: str) -> str:
    """v1's environment variable names: non-word characters become '_'."""
    return prefix + _NOT_WORD.sub("_", name)


class PythonScriptStepOperator(BaseOperator):
    """Run a step's script in a subprocess with its inputs, outputs and parameters bound.

    Built by `Pipeline.to_dag`; the arguments are plain values so the operator can also be
    used on its own. Outputs are published, and returned as XCom records, only on success.
    """

    ui_color = "#dbeafe"
    template_fields: Sequence[str] = ()

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
        allow_reuse: bool = True,
        step_version: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.step_name = step_name
        self.script_name = script_name
        self.script_path = script_path
        self.source_directory = source_directory
        self.arguments = list(arguments or [])
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.step_params = dict(step_params or {})
        self.python_interpreter = python_interpreter
        self.allow_reuse = allow_reuse
        self.step_version = step_version
        self._process: ScriptProcess | None = None

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        # Run-time modules are imported here, not at the top: DAG files import this module.
        from airflow_provider_mlpipe.runtime.process import ScriptProcess
        from airflow_provider_mlpipe.runtime.step_data import StepData, StepDataError

        ti = context["ti"]
        params = context.get("params") or {}
        workdir = Path(tempfile.mkdtemp(prefix=f"mlpipe-{self.task_id[:40]}-"))
        try:
            data = StepData(self.step_name, workdir, self.log)
            try:
                input_paths = {
                    spec["name"]: data.materialize_input(
                        spec, lambda task_id: ti.xcom_pull(task_ids=task_id, key="return_value")
                    )
                    for spec in self.inputs
                }
                output_paths = {spec["name"]: data.output_folder(spec) for spec in self.outputs}
            except StepDataError as error:
                raise AirflowException(str(error)) from error
            code_dir = self._working_copy(workdir / "code")
            argv = [self._interpreter(), str(code_dir / self.script_name)]
            argv += [self._bind(token, input_paths, output_paths, params) for token in self.arguments]
            env = self._environment(input_paths, output_paths, params)
            self.log.info("Step %r: running %s", self.step_name, " ".join(argv))
            self._process = ScriptProcess(argv, code_dir, env, self.log)
            code = self._process.run()
            if code != 0:
                tail = "\n".join(self._process.stderr_tail) or "(no stderr)"
                raise AirflowException(
                    f"step {self.step_name!r}: script {self.script_name} exited with code {code}; "
                    f"last lines of stderr:\n{tail}"
                )
            try:
                return {
                    spec["name"]: data.publish_output(
                        spec, output_paths[spec["name"]], ti.dag_id, ti.run_id, ti.task_id
                    )
                    for spec in self.outputs
                }
            except StepDataError as error:
                raise AirflowException(str(error)) from error
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def on_kill(self) -> None:
        if self._process is not None:
            self.log.info("Step %r: killing the script's process tree", self.step_name)
            self._process.kill()

    def _interpreter(self) -> str:
        return self.python_interpreter or sys.executable

    def _working_copy(self, destination: Path) -> Path:
        """A private copy of the source folder (ignore files respected), or of the script alone."""
        from airflow_provider_mlpipe.runtime.snapshot import copy_snapshot

        destination.mkdir(parents=True)
        if self.source_directory:
            copy_snapshot(Path(self.source_directory), destination)
        else:
            shutil.copy2(self.script_path, destination / self.script_name)
        if not (destination / self.script_name).is_file():
            raise AirflowException(
                f"step {self.step_name!r}: script {self.script_name} is not in the working copy of "
                f"{self.source_directory} (is it excluded by .amlignore/.gitignore?)"
            )
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

    def _environment(self, inputs: dict[str, Path], outputs: dict[str, Path], params: Any) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        for name, path in {**inputs, **outputs}.items():
            env[env_name("AZUREML_DATAREFERENCE_", name)] = str(path)
        for name, value in self.step_params.items():
            text = (
                _parameter_text(self.step_name, value["parameter"], params)
                if "parameter" in value
                else str(value["value"])
            )
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
