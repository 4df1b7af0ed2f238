"""`AdlaStep`: a U-SQL script run as an Azure Data Lake Analytics job; v1's names and parse-time errors.

Plain objects (no Azure imports). The step only describes the job (`usql_spec`); an operator
reads the script, fills its `@@name@@` placeholders safely (`runtime.usql.substitute`) and
submits it.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from airflow_provider_mlpipe.authoring.data import PipelineData, PipelineParameter
from airflow_provider_mlpipe.authoring.steps import (
    LocalScriptStep,
    SourceFileLookup,
    StepInput,
    connection_id,
    data_of,
    encode_token,
)
from airflow_provider_mlpipe.extras import require_extra

#: Airflow connection of the Data Lake Analytics account when `compute_target` is not given.
DEFAULT_ADLA_CONN_ID = "adla_default"

_WORD = re.compile(r"\w+", re.ASCII)  # fullmatch: `$` would let "a\n" through
_PARAMETER_TYPES = (str, int, float, bool, PipelineParameter)


class AdlaStep(LocalScriptStep):
    """Run a U-SQL script as a Data Lake Analytics job; v1's `AdlaStep`.

    In the script, `@@name@@` stands for the path of the input or output of that name, or for
    the `params` value of that name (a literal or a `PipelineParameter`). Put path placeholders
    inside quotes (`"@@input@@"`): a value is only ever inserted where it cannot change the
    script, and in bare code only plain numbers and identifiers are accepted.

    `degree_of_parallelism` and `priority` (lower runs first; the service default is 1000) are
    positive ints, or None for the service's defaults. `compute_target` names the Airflow
    connection of the ADLA account (default `adla_default`), kept as `adla_conn_id`; it is not
    an Airflow queue. The script is `script_name` in `source_directory` (or in the pipeline's
    default source directory, or next to the DAG file).
    """

    kind = "AdlaStep"

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        inputs: list[StepInput] | None = None,
        outputs: list[PipelineData] | None = None,
        params: dict[str, Any] | None = None,
        degree_of_parallelism: int | None = None,
        priority: int | None = None,
        runtime_version: str | None = None,
        compute_target: Any = None,
        source_directory: str | Path | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: list[str] | None = None,
    ) -> None:
        if not isinstance(script_name, str) or not script_name.strip():
            raise ValueError(f"AdlaStep {name!r}: script_name is required")
        step_name = name or script_name
        if not isinstance(step_name, str) or not step_name.strip():
            raise ValueError(f"{self.kind}: name must be a non-empty string, got {name!r}")
        # Everything is checked before the base class registers this step as its outputs' producer.
        where = f"AdlaStep {step_name!r}"
        require_extra("adla", where)
        self.degree_of_parallelism = _positive_int(where, "degree_of_parallelism", degree_of_parallelism)
        self.priority = _positive_int(where, "priority", priority)
        if runtime_version is not None and not (isinstance(runtime_version, str) and runtime_version.strip()):
            raise ValueError(f"{where}: runtime_version must be a non-empty string, got {runtime_version!r}")
        self.runtime_version = runtime_version
        if source_directory is not None and not isinstance(source_directory, str | Path):
            raise TypeError(f"{where}: source_directory must be a path, got {source_directory!r}")
        self.params: dict[str, Any] = _check_params(where, params, inputs or [], outputs or [])
        conn_id = connection_id(where, compute_target, DEFAULT_ADLA_CONN_ID, "Data Lake Analytics account")

        super().__init__(step_name, inputs, outputs, None, conn_id, allow_reuse, version)
        # The base class would make a compute target an Airflow queue; here it is a connection.
        self.adla_conn_id: str = self.compute_target or DEFAULT_ADLA_CONN_ID
        self.compute_target = None
        self.script_name = script_name
        self.source_directory = None if source_directory is None else Path(source_directory)

        if hash_paths:
            warnings.warn(
                f"step {self.name!r}: hash_paths is deprecated (as in v1 since 1.0.45) and ignored; "
                "every file of source_directory is hashed",
                DeprecationWarning,
                stacklevel=2,
            )

    def placeholders(self) -> list[str]:
        """The `@@name@@` names this step fills: its inputs, outputs and params, in that order."""
        return [*self._data_names(), *self.params]

    def parameters(self) -> list[PipelineParameter]:
        return [v for v in self.params.values() if isinstance(v, PipelineParameter)]

    def usql_spec(self) -> dict[str, Any]:
        """The job as plain data; params as strings, `{"parameter": name}` for a PipelineParameter."""
        return {
            "script_name": self.script_name,
            "degree_of_parallelism": self.degree_of_parallelism,
            "priority": self.priority,
            "runtime_version": self.runtime_version,
            "params": {k: encode_token(v, bare_literal=True) for k, v in self.params.items()},
        }

    def operator_kwargs(
        self, source_directory: Path | None, script_path: Path | None, arguments: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "script_path": str(script_path),
            "usql_spec": self.usql_spec(),
            "adla_conn_id": self.adla_conn_id,
            "source_directory": str(source_directory) if source_directory else None,
        }

    # -- files relative to the DAG file ----------------------------------------------------------

    def problems(
        self, files: SourceFileLookup, default_source_directory: str | Path | None = None
    ) -> list[str]:
        """Missing folder or script, then the script's placeholders (the one file read at parse time)."""
        problems = super().problems(files, default_source_directory)
        if problems:
            return problems
        _source, script = self.locate(files, default_source_directory)
        try:
            text = script.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            return [f"step {self.name!r}: the U-SQL script {str(script)!r} cannot be read as UTF-8: {error}"]
        return self._placeholder_problems(text)

    def _placeholder_problems(self, text: str) -> list[str]:
        # The same U-SQL lexer the operator substitutes with; imported here, as authoring/
        # imports no lower layer when a DAG file merely imports the step.
        from airflow_provider_mlpipe.runtime import usql

        known = self.placeholders()
        data_names = set(self._data_names())
        listed = ", ".join(sorted(known)) or "none"
        problems = [
            f"step {self.name!r}: the U-SQL script uses @@{name}@@, which is not an input, output or "
            f"params name (known: {listed})"
            for name in usql.placeholders_in(text)
            if name not in known
        ]
        # Where a placeholder stands decides what its value may be: report what cannot work.
        reported: set[tuple[str, str]] = set()
        for name, context in usql.occurrences(text):
            if name not in known or (name, context) in reported:
                continue
            reported.add((name, context))
            if name in data_names and context == usql.CODE:
                problem = f'@@{name}@@ is replaced by a path but stands outside quotes; write "@@{name}@@"'
            elif name in data_names:
                problem = usql.value_problem(name, context, "/a/path")
            else:
                value = self.params[name]
                literal = value.default_value if isinstance(value, PipelineParameter) else value
                problem = usql.value_problem(name, context, str(literal))
                if problem and isinstance(value, PipelineParameter):
                    problem += f" (the default of PipelineParameter {value.name!r})"
            if problem:
                problems.append(f"step {self.name!r}: {problem}")
        return problems

    def _data_names(self) -> list[str]:
        return [item.name for item in self.inputs] + [o.output_name for o in self.outputs]


def _positive_int(where: str, key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where}: {key} must be a positive int (> 0), got {value!r}")
    return value


def _check_params(where: str, params: Any, inputs: list[Any], outputs: list[Any]) -> dict[str, Any]:
    input_names = [item.name for item in inputs if data_of(item) is not None]
    output_names = [o.output_name for o in outputs if isinstance(o, PipelineData)]
    clashes = sorted(set(input_names) & set(output_names))
    if clashes:
        raise ValueError(
            f"{where}: {clashes[0]!r} names both an input and an output; @@{clashes[0]}@@ in the script "
            "must mean one"
        )
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise TypeError(f"{where}: params must be a dict of name -> value, got {params!r}")
    for key, value in params.items():
        if not isinstance(key, str) or not _WORD.fullmatch(key):
            raise ValueError(f"{where}: params name {key!r} must contain only letters, digits and '_'")
        if key in input_names or key in output_names:
            side = "an input" if key in input_names else "an output"
            raise ValueError(
                f"{where}: params name {key!r} is also the name of {side}; @@{key}@@ in the script "
                "must mean one"
            )
        if data_of(value) is not None:
            raise TypeError(
                f"{where}: params[{key!r}] is a data object; list it in inputs or outputs, and the script "
                "gets its path as @@<its name>@@"
            )
        if not isinstance(value, _PARAMETER_TYPES):
            raise TypeError(
                f"{where}: params[{key!r}] {value!r} is not a string, number, bool or PipelineParameter"
            )
    return dict(params)
