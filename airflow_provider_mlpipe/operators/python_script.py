"""`PythonScriptStepOperator`: runs one `PythonScriptStep` on an Airflow worker, or reuses it."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_mlpipe.operators.base import REQUIRED, PipelineStepOperator
from airflow_provider_mlpipe.operators.templating import TokenField

if TYPE_CHECKING:
    from airflow_provider_mlpipe.operators.outcome import StepOutcome
    from airflow_provider_mlpipe.runtime.process import ScriptProcess
    from airflow_provider_mlpipe.runtime.reuse_key import KeyComponent, ReuseKey
    from airflow_provider_mlpipe.runtime.step_data import AttemptData, InputLocation
    from airflow_provider_mlpipe.specs import OutputRecord
    from airflow_provider_mlpipe.tokens import Binding

#: The templated step arguments: the literals among `arguments` and `step_params` (v1's `params`).
TOKEN_FIELDS = (TokenField("arguments", None, "arguments"), TokenField("step_params", None, "params"))


def env_name(prefix: str, name: str) -> str:
    """v1's environment variable names: non-word characters become '_'."""
    return prefix + re.sub(r"\W", "_", name, flags=re.ASCII)  # compiled when first used (not at parse)


class PythonScriptStepOperator(PipelineStepOperator):
    """Run a step's script in a subprocess with its inputs, outputs and parameters bound.

    Built by `Pipeline.to_dag`; the arguments are plain values so the operator can also be
    used on its own: `script_name`, `script_path`, `source_directory`, `arguments` and
    `step_params` (tokens, see tokens.py), `python_interpreter`. The literals among `arguments`
    and `step_params` (v1's `params`) are Jinja templates, rendered before the reuse key is
    computed. The script runs in a private copy of the step's snapshot, in a private folder.
    """

    ui_color = "#dbeafe"
    template_fields: Sequence[str] = ("arguments", "step_params")
    template_fields_renderers = {"arguments": "json", "step_params": "json"}
    step_kind = "PythonScriptStep"
    kind_arguments: ClassVar[dict[str, Any]] = {
        "script_name": REQUIRED,
        "script_path": REQUIRED,
        "source_directory": None,
        "arguments": list,  # templated: an XComArg is kept as given and resolves when the task runs
        "step_params": dict,
        "python_interpreter": None,
    }
    _process: ScriptProcess | None = None
    _snapshot: list[str] = []

    def token_fields(self) -> Sequence[TokenField]:
        return TOKEN_FIELDS

    def on_kill(self) -> None:
        if self._process is not None:
            self.log.info("Step %r: killing the script's process tree", self.step_name)
            self._process.kill()

    # Reuse

    def key_components(
        self, data: AttemptData, locations: list[InputLocation], context: Any
    ) -> list[KeyComponent]:
        """The snapshot of the code, the script, bound arguments and params, version, interpreter
        (and the paths on compute, when set)."""
        from airflow_provider_mlpipe.runtime.reuse_key import (
            interpreter_identity,
            source_component,
            value_component,
        )

        self._snapshot = self._snapshot_files()
        source = Path(self.source_directory) if self.source_directory else None
        arguments = self._binding(context).texts(self.arguments)
        components = [
            source_component(source, Path(self.script_path), self._snapshot),
            value_component("script", self.script_name),
            value_component("arguments", arguments, " ".join(arguments)),
            value_component("params", self._binding(context).mapping(self.step_params)),
            value_component("version", self.step_version),
            value_component("interpreter", interpreter_identity(self.python_interpreter)),
        ]
        placed = self.paths_on_compute()
        if placed:  # a script reading a fixed path depends on it; none set: the key is as before
            components.append(value_component("paths on compute", placed))
        return components

    def paths_on_compute(self) -> dict[str, str]:
        """v1's `path_on_compute` of each input and output that has one: where the script finds or
        writes that data, relative to its working folder."""
        return {
            f"{kind} {spec['name']}": spec["path_on_compute"]
            for kind, specs in (("input", self.inputs), ("output", self.outputs))
            for spec in specs
            if spec.get("path_on_compute")
        }

    def hand_on_reused(self, ti: Any, key: ReuseKey, entry: dict[str, Any]) -> dict[str, OutputRecord]:
        """A HIT also hands on the metrics the original run logged (none for entries older than metrics)."""
        from airflow_provider_mlpipe.contract import METRICS_XCOM_KEY

        records = super().hand_on_reused(ti, key, entry)
        metrics = entry.get("metrics")
        ti.xcom_push(key=METRICS_XCOM_KEY, value=metrics if isinstance(metrics, dict) else {})
        return records

    # Running

    def _snapshot_files(self) -> list[str]:
        """The files of the source folder that belong to the step (checked against the size guard)."""
        if not self.source_directory:
            return [self.script_name]
        from airflow.sdk.exceptions import AirflowException

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
        check_snapshot_size(self.step_name, source, files, max_bytes, max_files)
        return files

    def run(self, context: Any, data: AttemptData, locations: list[InputLocation]) -> StepOutcome:
        """Run the script in a private copy of the snapshot; its output folders are published after.

        The metrics are written and pushed to XCom whatever the exit code, so a failed
        script's metrics help to debug it.
        """
        from airflow.sdk.exceptions import AirflowException

        from airflow_provider_mlpipe.operators.outcome import StepOutcome
        from airflow_provider_mlpipe.runtime.metrics import StepMetrics
        from airflow_provider_mlpipe.runtime.process import ScriptProcess
        from airflow_provider_mlpipe.runtime.run_record import git_info

        ti = context["ti"]
        run_record = {"git": git_info(Path(self.source_directory) if self.source_directory else None)}
        code_dir = self._working_copy(data.workdir / "code", self._snapshot)
        input_paths = {
            location.name: data.materialize_input(
                location, self._below(code_dir, spec.get("path_on_compute")), bool(spec.get("overwrite"))
            )
            for spec, location in zip(self.inputs, locations, strict=True)
        }
        for spec in self.outputs:
            self._below(code_dir, spec.get("path_on_compute"))
        output_paths = {spec["name"]: data.output_folder(spec, code_dir) for spec in self.outputs}
        paths = {name: str(path) for name, path in {**input_paths, **output_paths}.items()}
        binding = self._binding(context, paths)
        argv = [self.python_interpreter or sys.executable, str(code_dir / self.script_name)]
        argv += binding.texts(self.arguments)
        env = self._environment(paths, binding.mapping(self.step_params))
        metrics = StepMetrics(data.workdir / "metrics", self.log)
        env.update(metrics.environment(ti.dag_id, ti.run_id, ti.task_id, env.get("PYTHONPATH")))
        self.log.info("Step %r: running %s", self.step_name, " ".join(argv))
        self._process = ScriptProcess(argv, code_dir, env, self.log, workdir=data.workdir)
        code = self._process.run()
        logged = metrics.publish(ti, data, self.outputs[0].get("datastore") if self.outputs else None)
        if code != 0:
            tail = "\n".join(self._process.stderr_tail) or "(no stderr)"
            raise AirflowException(
                f"step {self.step_name!r}: script {self.script_name} exited with code {code}; "
                f"last lines of stderr:\n{tail}"
            )
        return StepOutcome(run_record, metrics=logged, local_outputs=output_paths)

    def _below(self, working_folder: Path, relative: str | None) -> Path | None:
        """`working_folder / relative`, refused when it leads out of the folder (through '..', an
        absolute path or a link of the source folder): the data there may be replaced."""
        if not relative:
            return None
        from airflow.sdk.exceptions import AirflowException

        placed = working_folder / relative
        if not placed.resolve().is_relative_to(working_folder.resolve()):
            raise AirflowException(
                f"step {self.step_name!r}: path_on_compute {relative!r} leads out of the script's "
                "working folder"
            )
        return placed

    def _binding(self, context: Any, paths: dict[str, str] | None = None) -> Binding:
        from airflow_provider_mlpipe.tokens import Binding

        return Binding(self.step_name, context.get("params") or {}, paths, one_line=True)

    def _working_copy(self, destination: Path, snapshot: list[str]) -> Path:
        """A private copy of the snapshot of the source folder, or of the script alone."""
        from airflow_provider_mlpipe.runtime.snapshot import copy_snapshot

        destination.mkdir(parents=True)
        if self.source_directory:
            copy_snapshot(Path(self.source_directory), destination, snapshot)
        else:
            shutil.copy2(self.script_path, destination / self.script_name)
        return destination

    def _environment(self, paths: dict[str, str], params: dict[str, str]) -> dict[str, str]:
        """v1's variables: `AZUREML_DATAREFERENCE_<data>` paths and `AML_PARAMETER_<name>` params."""
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        for name, path in paths.items():
            env[env_name("AZUREML_DATAREFERENCE_", name)] = path
        for name, text in params.items():
            env[env_name("AML_PARAMETER_", name)] = text
        return env
