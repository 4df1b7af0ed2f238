"""Pipeline steps with v1's names and meanings. Plain objects: no Airflow, no cloud SDKs."""

from __future__ import annotations

import warnings
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.authoring.data import (
    DataPathInput,
    PipelineData,
    PipelineDataInput,
    PipelineParameter,
    as_data_path_input,
    is_data_path_parameter,
)
from airflow_provider_mlpipe.authoring.datastore import DataReference
from airflow_provider_mlpipe.contract import CONNECTION_ID

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_mlpipe.tokens import Token

#: Literal argument values (text on the command line).
_LITERALS = (str, int, float, bool)

#: Inputs that need no normalising (the common case, checked first).
_PLAIN_INPUTS = (PipelineData, PipelineDataInput, DataReference)

StepInput = DataReference | PipelineData | PipelineDataInput | DataPathInput | PipelineParameter | tuple


def data_of(item: Any) -> DataReference | PipelineData | PipelineParameter | None:
    """The data object behind an input, an output or an argument, if it is one.

    For a DataPath parameter (alone or as a `DataPathInput`) that is the `PipelineParameter`
    itself; normalise v1's (parameter, binding) tuples first with `as_data_path_input`.
    """
    if isinstance(item, _LITERALS):  # most arguments: checked first (DAG files are parsed often)
        return None
    if isinstance(item, DataReference | PipelineData):
        return item
    if isinstance(item, PipelineDataInput):
        return item.data
    if isinstance(item, DataPathInput):
        return item.parameter
    if is_data_path_parameter(item):
        return item
    return None


def source_of(data: DataReference | PipelineData | PipelineParameter) -> Any:
    """What an argument shares with the input or output it stands for.

    The object itself (by identity) for a PipelineData or a DataPath parameter; for a
    DataReference its datastore, path and name (`DataReference.source`), so `ref.as_download()`
    in `arguments` is the input `ref` of `inputs`, and the other way round.
    """
    return data.source if isinstance(data, DataReference) else id(data)


def _check_path_on_compute(step: str, what: str, value: Any) -> None:
    """v1's `path_on_compute`: where the step's script finds (or writes) the data, relative to
    its working folder. Absolute paths and '..' are refused: workers are shared."""
    if value is None:
        return
    parts = PurePosixPath(value).parts if isinstance(value, str) else ()
    if not parts or parts[0] == "/" or ".." in parts:
        raise ValueError(
            f"step {step!r}: {what}: path_on_compute {value!r} must be a relative path below the "
            "script's working folder, without '..' (e.g. 'data/train')"
        )


class SourceFileLookup:
    """File look-ups of one validation pass, relative to the DAG file's folder.

    Many steps share one source folder: each path is resolved and checked once per pass
    (DAG files are parsed constantly), and never cached beyond it.
    """

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        # Keyed by the values as given (a str hashes far faster than a Path).
        self._resolved: dict[str | Path, Path] = {}
        self._children: dict[tuple[Path, str], Path] = {}
        #: (step id, default source folder) -> what `locate` found for that step in this pass.
        self.located: dict[tuple[int, Any], tuple[Path | None, Path | None]] = {}
        self._is_dir: dict[Path, bool] = {}
        self._is_file: dict[Path, bool] = {}

    def resolve(self, path: str | Path) -> Path:
        """`path` made absolute against the DAG file's folder."""
        if path not in self._resolved:
            self._resolved[path] = (self.base_dir / path).resolve()
        return self._resolved[path]

    def child(self, folder: Path, name: str) -> Path:
        """`folder / name`, made once per pass."""
        key = (folder, name)
        if key not in self._children:
            self._children[key] = folder / name
        return self._children[key]

    def is_dir(self, path: Path) -> bool:
        if path not in self._is_dir:
            self._is_dir[path] = path.is_dir()
        return self._is_dir[path]

    def is_file(self, path: Path) -> bool:
        if path not in self._is_file:
            self._is_file[path] = path.is_file()
        return self._is_file[path]


class PipelineStep:
    """What every step kind shares: a name, data in and out, ordering and reuse settings."""

    #: Step kind, as shown in logs and recorded in reuse keys.
    kind = "step"
    #: Whether the kind's script reads and writes data on the worker, where v1's
    #: `path_on_compute` places it (checked then); remote kinds pass locations instead.
    places_data_on_compute = False

    def __init__(
        self,
        name: str,
        inputs: list[StepInput] | None = None,
        outputs: list[PipelineData] | None = None,
        arguments: list[Any] | None = None,
        compute_target: Any = None,
        allow_reuse: bool = True,
        version: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{self.kind}: name must be a non-empty string, got {name!r}")
        self.name = name
        self.inputs = [
            item if isinstance(item, _PLAIN_INPUTS) else as_data_path_input(item) for item in inputs or []
        ]
        self.outputs = list(outputs or [])
        self.arguments = list(arguments or [])
        self.compute_target = _compute_target_name(name, compute_target)
        self.allow_reuse = bool(allow_reuse)
        self.version = version
        self._run_after: list[PipelineStep] = []
        self._check_inputs_and_outputs()
        self._check_arguments()
        for output in self.outputs:
            output.producers.append(self)

    def run_after(self, step: PipelineStep) -> None:
        """Run this step only after `step` finishes, with no data between them."""
        if not isinstance(step, PipelineStep):
            raise TypeError(f"step {self.name!r}: run_after() takes a step, got {step!r}")
        self._run_after.append(step)

    @property
    def run_after_steps(self) -> list[PipelineStep]:
        return list(self._run_after)

    @property
    def input_data(self) -> list[DataReference | PipelineData | PipelineParameter]:
        return [data_of(item) for item in self.inputs]  # type: ignore[misc]

    def locate(
        self, files: SourceFileLookup, default_source_directory: str | Path | None = None
    ) -> tuple[Path | None, Path | None]:
        """(source folder, script file) of steps that run local code; (None, None) otherwise."""
        return None, None

    def problems(
        self, files: SourceFileLookup, default_source_directory: str | Path | None = None
    ) -> list[str]:
        """Problems only the whole pipeline can see (e.g. files relative to the DAG file)."""
        return []

    def operator_kwargs(
        self, source_directory: Path | None, script_path: Path | None, arguments: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """This kind's own operator arguments, as plain values (the graph adds what all kinds share).

        `source_directory`/`script_path` are the located files (see `locate`), `arguments` the
        step's arguments as tokens.
        """
        raise NotImplementedError(
            f"step {self.name!r}: step kind {type(self).__name__} does not define operator_kwargs()"
        )

    def _check_inputs_and_outputs(self) -> None:
        for item in self.inputs:
            if data_of(item) is None:
                raise TypeError(
                    f"step {self.name!r}: input {item!r} is not a DataReference or PipelineData "
                    "(nor a DataPath PipelineParameter)"
                )
            if isinstance(item, PipelineData):  # the common case: nothing more to check
                continue
            if isinstance(item, DataReference) and item.mode == "upload":
                raise ValueError(item.upload_refusal(self.name))
            if self.places_data_on_compute and item.path_on_compute is not None:
                _check_path_on_compute(self.name, f"input {item.name!r}", item.path_on_compute)
        seen_inputs: set[str] = set()
        for item in self.inputs:
            name = item.name
            if name in seen_inputs:
                raise ValueError(f"step {self.name!r}: two inputs are named {name!r}")
            seen_inputs.add(name)
        seen_outputs: set[str] = set()
        for output in self.outputs:
            if isinstance(output, DataReference):
                raise ValueError(output.upload_refusal(self.name))
            if not isinstance(output, PipelineData):
                raise TypeError(f"step {self.name!r}: output {output!r} is not a PipelineData")
            if output.output_name in seen_outputs:
                raise ValueError(f"step {self.name!r}: two outputs are named {output.output_name!r}")
            seen_outputs.add(output.output_name)
            if self.places_data_on_compute and output.output_path_on_compute is not None:
                at = output.output_path_on_compute
                _check_path_on_compute(self.name, f"output {output.output_name!r}", at)

    def _check_arguments(self) -> None:
        """Data in `arguments` must be one of the step's inputs or outputs (the same source)."""
        declared = {d.source if isinstance(d, DataReference) else id(d) for d in self.input_data}
        declared.update(id(o) for o in self.outputs)
        for argument in self.arguments:
            if isinstance(argument, _LITERALS):
                continue
            data = (
                argument
                if isinstance(argument, DataReference | PipelineData)
                else data_of(as_data_path_input(argument))
            )
            if data is None:
                if not isinstance(argument, PipelineParameter):
                    raise TypeError(
                        f"step {self.name!r}: argument {argument!r} is not a string, number, "
                        "PipelineParameter or data object"
                    )
                continue
            if isinstance(data, DataReference) and data.mode == "upload":
                raise ValueError(data.upload_refusal(self.name))
            if (data.source if isinstance(data, DataReference) else id(data)) not in declared:  # source_of
                kind = "DataPath PipelineParameter" if is_data_path_parameter(data) else type(data).__name__
                raise ValueError(
                    f"step {self.name!r}: {kind} {data.name!r} appears in arguments "
                    "list but is not in the input/output lists"
                )

    def parameters(self) -> list[PipelineParameter]:
        """Every `PipelineParameter` this step uses, DataPath parameters of its inputs included."""
        found = [a for a in self.arguments if isinstance(a, PipelineParameter)]
        found += [i.parameter for i in self.inputs if isinstance(i, DataPathInput)]
        return found

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class LocalScriptStep(PipelineStep):
    """A step whose script (`script_name`, in `source_directory`) lies beside the DAG file."""

    script_name: str
    source_directory: Path | None

    def locate(
        self, files: SourceFileLookup, default_source_directory: str | Path | None = None
    ) -> tuple[Path | None, Path]:
        """(source folder or None, script path), absolute against the folder of the DAG file."""
        key = (id(self), default_source_directory)
        if key not in files.located:  # asked by the checks, then by the graph: found once
            chosen = self.source_directory if self.source_directory is not None else default_source_directory
            if chosen is None:
                files.located[key] = None, files.resolve(self.script_name)
            else:
                source = files.resolve(chosen)
                files.located[key] = source, files.child(source, self.script_name)
        return files.located[key]  # type: ignore[return-value]

    def problems(
        self, files: SourceFileLookup, default_source_directory: str | Path | None = None
    ) -> list[str]:
        """A missing source folder or script, named with the step."""
        source, script = self.locate(files, default_source_directory)
        if source is not None and not files.is_dir(source):
            return [f"step {self.name!r}: source_directory {str(source)!r} is not a folder"]
        if not files.is_file(script):
            where = f"source_directory {str(source)!r}" if source else f"folder {str(files.base_dir)!r}"
            return [f"step {self.name!r}: script_name {self.script_name!r} is missing from {where}"]
        return []


class PythonScriptStep(LocalScriptStep):
    """Run a Python script with its source folder; v1's `PythonScriptStep`.

    `python_interpreter` (not in v1, where a run configuration chose the environment) runs
    the script with another interpreter, e.g. a venv's `bin/python`.
    """

    kind = "PythonScriptStep"
    places_data_on_compute = True

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        arguments: list[Any] | None = None,
        compute_target: Any = None,
        runconfig: Any = None,
        runconfig_pipeline_params: Any = None,
        inputs: list[StepInput] | None = None,
        outputs: list[PipelineData] | None = None,
        params: dict[str, Any] | None = None,
        source_directory: str | Path | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: list[str] | None = None,
        python_interpreter: str | None = None,
    ) -> None:
        if not isinstance(script_name, str) or not script_name:
            raise ValueError(f"PythonScriptStep {name!r}: script_name is required")
        super().__init__(
            name or script_name, inputs, outputs, arguments, compute_target, allow_reuse, version
        )
        if runconfig is not None or runconfig_pipeline_params is not None:
            warnings.warn(
                f"step {self.name!r}: runconfig is not used by mlpipe; pick the interpreter with "
                "python_interpreter= and the workers with compute_target=",
                UserWarning,
                stacklevel=2,
            )
        if hash_paths:
            warnings.warn(
                f"step {self.name!r}: hash_paths is deprecated (as in v1 since 1.0.45) and ignored; "
                "every file of source_directory is hashed",
                DeprecationWarning,
                stacklevel=2,
            )
        self.script_name = script_name
        self.params = dict(params or {})
        for key in self.params:
            if not isinstance(key, str) or not key:
                raise ValueError(f"step {self.name!r}: params keys must be non-empty strings")
        self.source_directory = None if source_directory is None else Path(source_directory)
        self.python_interpreter = python_interpreter

    def parameters(self) -> list[PipelineParameter]:
        found = super().parameters()
        found += [v for v in self.params.values() if isinstance(v, PipelineParameter)]
        return found

    def operator_kwargs(
        self, source_directory: Path | None, script_path: Path | None, arguments: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "script_name": self.script_name,
            "source_directory": str(source_directory) if source_directory else None,
            "script_path": str(script_path),
            "arguments": arguments,
            "step_params": {key: encode_token(value) for key, value in self.params.items()},
            "python_interpreter": self.python_interpreter,
        }


def encode_token(value: Any, step: PipelineStep | None = None, *, bare_literal: bool = False) -> Token:
    """A DAG file's argument or parameter value as a token (see `tokens.py`), for every step kind.

    With `step` (an entry of its `arguments`), data becomes a reference to that step's input or
    output of the same object; a literal is `{"value": text}`, or the text itself with
    `bare_literal` (the services' parameters are plain strings).
    """
    return encode_tokens([value], step, bare_literal=bare_literal)[0]


def encode_tokens(
    values: list[Any], step: PipelineStep | None = None, *, bare_literal: bool = False
) -> list[Token]:
    """`encode_token` for each value; a step's data references are looked up once for all."""
    tokens: list[Token] = []
    references: dict[Any, Token] | None = None
    for value in values:
        if isinstance(value, _LITERALS):
            tokens.append(str(value) if bare_literal else {"value": str(value)})
            continue
        if step is not None and not isinstance(value, DataReference | PipelineData):
            value = as_data_path_input(value)
            if isinstance(value, DataPathInput):
                tokens.append({"input": value.name})
                continue
        if isinstance(value, PipelineParameter):
            tokens.append({"parameter": value.name})
            continue
        data = data_of(value) if step is not None else None
        if data is None:
            tokens.append(str(value) if bare_literal else {"value": str(value)})
            continue
        if references is None:
            references = _data_references(step)  # type: ignore[arg-type]
        source = source_of(data)
        # An input binding names the input it means when the step has the same data twice.
        token = references.get((source, value.name)) if isinstance(value, PipelineDataInput) else None
        tokens.append(dict(token or references[source]))  # type: ignore[arg-type]
    return tokens


def _data_references(step: PipelineStep) -> dict[Any, Token]:
    """The token of each data source of `step` (see `source_of`): an output's, else its first
    input's; and of each (source, input name)."""
    references: dict[Any, Token] = {id(output): {"output": output.output_name} for output in step.outputs}
    for item in step.inputs:
        source = source_of(data_of(item))  # type: ignore[arg-type]
        token: Token = {"input": item.name}
        references.setdefault(source, token)
        references.setdefault((source, item.name), token)
    return references


class StepSequence:
    """Steps run in the listed order (v1's `StepSequence`), with no data between them.

    Each item runs after the one before it: an item is a step, a list of steps (which run side
    by side, all after the previous item and all before the next), or another StepSequence.
    `Pipeline(steps=StepSequence([...]))`, also nested in a list of steps. The order belongs to
    the pipeline: the steps themselves are not changed (unlike `run_after`).
    """

    def __init__(self, steps: list[Any] | None = None) -> None:
        if steps is None:
            steps = []
        if isinstance(steps, str | bytes) or not hasattr(steps, "__iter__"):
            raise TypeError(f"StepSequence: steps must be a list of steps, got {steps!r}")
        self._steps = list(steps)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        return f"StepSequence({self._steps!r})"


def connection_id(where: str, compute_target: Any, default: str, service: str) -> str:
    """A `compute_target` that names an Airflow connection (a str, or an object with `.name`)."""
    if compute_target is None:
        return default
    conn_id = compute_target if isinstance(compute_target, str) else getattr(compute_target, "name", None)
    if not isinstance(conn_id, str) or not CONNECTION_ID.fullmatch(conn_id):
        raise TypeError(
            f"{where}: compute_target must be the Airflow connection id of the {service} "
            f"(a str, or an object with .name), got {compute_target!r}"
        )
    return conn_id


def _compute_target_name(step: str, compute_target: Any) -> str | None:
    """A compute target becomes an Airflow queue: accept a name or an object with `.name`."""
    if compute_target is None or isinstance(compute_target, str):
        return compute_target or None
    name = getattr(compute_target, "name", None)
    if isinstance(name, str) and name:
        return name
    raise TypeError(f"step {step!r}: compute_target must be a name (str), got {compute_target!r}")
