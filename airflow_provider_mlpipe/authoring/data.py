"""Data and parameters of a pipeline: `DataReference`, `PipelineData`, `PipelineParameter`, `DataPath`.

Plain objects checked when they are made, with v1's names and rules. Where the data really
lives is decided when a task runs; these only say which datastore and which path.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mlpipe.authoring.datastore import DataReference, Datastore
from airflow_provider_mlpipe.authoring.values import (
    INPUT_MODES,
    OUTPUT_MODES,
    PARAMETER_TYPES,
    FrozenValue,
    check_mode,
    check_word_name,
)


class PipelineData:
    """Intermediate data: written by exactly one step, read by any later ones.

    Where it lands is decided per run (`mlpipe/<dag>/<run>/<task>/<output_name>` on its
    datastore) and travels to consumers through XCom. `output_path_on_compute` is where a
    PythonScriptStep's script writes it, below its working folder (else a folder of its own).
    `output_overwrite` changes nothing here: every run writes to a new path.
    """

    def __init__(
        self,
        name: str,
        datastore: Datastore | None = None,
        output_name: str | None = None,
        output_mode: str = "mount",
        output_path_on_compute: str | None = None,
        output_overwrite: bool | None = None,
        data_type: str | None = None,
        is_directory: bool | None = None,
        pipeline_output_name: str | None = None,
        training_output: Any = None,
    ) -> None:
        self.name = check_word_name("PipelineData", name)
        if training_output is not None:
            raise ValueError(
                f"PipelineData {name!r}: training_output (the metrics or model of an AutoML or "
                "HyperDrive step) has no meaning here, as those steps do not exist; write the file "
                "from a step's script to a PipelineData output instead"
            )
        if data_type is not None and not isinstance(data_type, str):
            raise TypeError(f"PipelineData {name!r}: data_type must be a string, got {data_type!r}")
        #: A label of the author's (v1: the expected type, for its designer); kept, changes no run.
        self.data_type = data_type
        if datastore is not None and not isinstance(datastore, Datastore):
            raise TypeError(f"PipelineData {name!r}: datastore must be a Datastore or None")
        self.datastore = datastore
        self.output_name = check_word_name("PipelineData output", output_name or name)
        self.output_mode = check_mode(f"PipelineData {name!r}", output_mode, OUTPUT_MODES)
        self.output_path_on_compute = output_path_on_compute
        self.output_overwrite = output_overwrite
        self.is_directory = is_directory
        self.pipeline_output_name = pipeline_output_name
        #: Steps that list this object in their outputs (set by the steps; more than one is an error).
        self.producers: list[Any] = []

    def as_mount(self, input_name: str | None = None) -> PipelineDataInput:
        """Use this data as an input read in place where possible."""
        return PipelineDataInput(self, "mount", input_name)

    def as_download(
        self, input_name: str | None = None, path_on_compute: str | None = None, overwrite: bool | None = None
    ) -> PipelineDataInput:
        """Use this data as an input copied to the worker before the script starts."""
        return PipelineDataInput(self, "download", input_name, path_on_compute, overwrite)

    def as_input(self, input_name: str) -> PipelineDataInput:
        """Use this data as an input named `input_name`, in the default (mount) mode."""
        return PipelineDataInput(self, "mount", input_name)

    def create_input_binding(
        self,
        input_name: str | None = None,
        mode: str | None = None,
        path_on_compute: str | None = None,
        overwrite: bool | None = None,
    ) -> PipelineDataInput:
        """This data as an input, `mode` 'mount' (the default) or 'download'."""
        return PipelineDataInput(self, mode or "mount", input_name, path_on_compute, overwrite)

    def __repr__(self) -> str:
        return f"PipelineData({self.name!r})"


class PipelineDataInput(FrozenValue):
    """A consumer's view of a `PipelineData` (v1's `InputPortBinding`): the same data, with how
    to bring it in. In a step's `arguments` it stands for that step's input of the same data."""

    __slots__ = ("data", "mode", "input_name", "path_on_compute", "overwrite")
    data: PipelineData
    mode: str
    input_name: str | None
    path_on_compute: str | None
    overwrite: bool | None

    def __init__(
        self,
        data: PipelineData,
        mode: str = "mount",
        input_name: str | None = None,
        path_on_compute: str | None = None,
        overwrite: bool | None = None,
    ) -> None:
        if not isinstance(data, PipelineData):
            raise TypeError(f"an input binding needs a PipelineData, got {data!r}")
        check_mode(f"input of PipelineData {data.name!r}", mode, INPUT_MODES)
        if input_name is not None:
            check_word_name("input", input_name)
        if path_on_compute is not None and not isinstance(path_on_compute, str):
            raise TypeError(f"input of PipelineData {data.name!r}: path_on_compute must be a string")
        self._set(
            data=data, mode=mode, input_name=input_name, path_on_compute=path_on_compute, overwrite=overwrite
        )

    @property
    def name(self) -> str:
        return self.input_name or self.data.name


class DataPath:
    """A datastore and a path, chosen per run when it is a `PipelineParameter`'s default (v1's `DataPath`).

    `datastore=None` is the default datastore, decided where the task runs.
    """

    def __init__(
        self,
        datastore: Datastore | None = None,
        path_on_datastore: str | None = None,
        name: str | None = None,
    ) -> None:
        if datastore is not None and not isinstance(datastore, Datastore):
            raise TypeError(f"DataPath {name!r}: datastore must be a Datastore or None, got {datastore!r}")
        if path_on_datastore is not None and not isinstance(path_on_datastore, str):
            raise TypeError(
                f"DataPath {name!r}: path_on_datastore must be a string, got {path_on_datastore!r}"
            )
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore or ""
        self.name = None if name is None else check_word_name("DataPath", name)

    @property
    def datastore_name(self) -> str | None:
        return self.datastore.given_name if self.datastore is not None else None

    def create_data_reference(
        self,
        data_reference_name: str | None = None,
        datapath_compute_binding: DataPathComputeBinding | None = None,
    ) -> DataReference:
        """A `DataReference` to this path, brought in as `datapath_compute_binding` says (v1's method)."""
        if datapath_compute_binding is None:
            raise ValueError("DataPath.create_data_reference: datapath_compute_binding is required")
        if not isinstance(datapath_compute_binding, DataPathComputeBinding):
            raise TypeError(
                "DataPath.create_data_reference: datapath_compute_binding must be a DataPathComputeBinding, "
                f"got {type(datapath_compute_binding).__name__}"
            )
        binding = datapath_compute_binding
        return DataReference(
            self.datastore if self.datastore is not None else Datastore.default(),
            data_reference_name,
            self.path_on_datastore,
            binding.mode,
            binding.path_on_compute,
            binding.overwrite,
        )

    @staticmethod
    def create_from_data_reference(data_reference: DataReference) -> DataPath:
        """The datastore and path of `data_reference`, as a DataPath (v1's method)."""
        if not isinstance(data_reference, DataReference):
            raise TypeError(f"DataPath.create_from_data_reference: {data_reference!r} is not a DataReference")
        return DataPath(data_reference.datastore, data_reference.path_on_datastore)

    def as_value(self) -> dict[str, Any]:
        """The run's parameter value for this path (what the DAG param and run conf hold)."""
        return {"datastore": self.datastore_name, "path_on_datastore": self.path_on_datastore}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DataPath)
            and other.datastore_name == self.datastore_name
            and other.path_on_datastore == self.path_on_datastore
        )

    def __hash__(self) -> int:
        return hash(("DataPath", self.datastore_name, self.path_on_datastore))

    def __repr__(self) -> str:
        return f"DataPath({self.datastore!r}, {self.path_on_datastore!r})"


class DataPathComputeBinding:
    """How a step brings in a `DataPath` parameter's data (v1's `DataPathComputeBinding`)."""

    def __init__(
        self, mode: str = "mount", path_on_compute: str | None = None, overwrite: bool = False
    ) -> None:
        self.mode = check_mode("DataPathComputeBinding", mode, INPUT_MODES)
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    def create_data_reference(
        self, data_reference_name: str | None = None, datapath: DataPath | None = None
    ) -> DataReference:
        """A `DataReference` to `datapath`, brought in as this binding says (v1's method)."""
        if datapath is None:
            raise ValueError("DataPathComputeBinding.create_data_reference: datapath is required")
        if not isinstance(datapath, DataPath):
            raise TypeError(
                "DataPathComputeBinding.create_data_reference: datapath must be a DataPath, "
                f"got {type(datapath).__name__}"
            )
        return datapath.create_data_reference(data_reference_name, self)

    @staticmethod
    def create_from_data_reference(data_reference: DataReference) -> DataPathComputeBinding:
        """How `data_reference` is brought in, as a binding (v1's method)."""
        if not isinstance(data_reference, DataReference):
            raise TypeError(
                f"DataPathComputeBinding.create_from_data_reference: not a DataReference: {data_reference!r}"
            )
        reference = data_reference
        return DataPathComputeBinding(reference.mode, reference.path_on_compute, reference.overwrite)

    def __repr__(self) -> str:
        return f"DataPathComputeBinding(mode={self.mode!r})"


class PipelineParameter:
    """A value chosen per run (trigger form, run conf or REST), with a typed default.

    A `DataPath` default makes a DataPath parameter: a step lists it in its inputs (alone or
    as v1's `(parameter, DataPathComputeBinding(...))`) and reads the data bound for the run.
    """

    def __init__(self, name: str, default_value: Any) -> None:
        self.name = check_word_name("PipelineParameter", name)
        if not isinstance(default_value, PARAMETER_TYPES + (DataPath,)):
            raise TypeError(
                f"PipelineParameter {name!r}: default_value {default_value!r} has type "
                f"{type(default_value).__name__}; use int, str, bool or float (or a DataPath)"
            )
        if isinstance(default_value, str) and "\n" in default_value:
            raise ValueError(f"PipelineParameter {name!r}: multi-line values are not supported")
        self.default_value = default_value

    @property
    def value_type(self) -> type:
        return type(self.default_value)

    def __repr__(self) -> str:
        return f"PipelineParameter({self.name!r}, default_value={self.default_value!r})"


class DataPathInput(FrozenValue):
    """A step's input bound to a DataPath `PipelineParameter`: the data is chosen per run."""

    __slots__ = ("parameter", "mode", "path_on_compute", "overwrite")
    parameter: PipelineParameter
    mode: str
    path_on_compute: str | None
    overwrite: bool

    def __init__(
        self,
        parameter: PipelineParameter,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ) -> None:
        if not is_data_path_parameter(parameter):
            raise TypeError(f"{parameter!r} is not a PipelineParameter with a DataPath default")
        check_mode(f"input of DataPath parameter {parameter.name!r}", mode, INPUT_MODES)
        self._set(parameter=parameter, mode=mode, path_on_compute=path_on_compute, overwrite=overwrite)

    @property
    def name(self) -> str:
        return self.parameter.name


def is_data_path_parameter(value: Any) -> bool:
    return isinstance(value, PipelineParameter) and isinstance(value.default_value, DataPath)


def as_data_path_input(item: Any) -> Any:
    """v1's `(parameter, DataPathComputeBinding)` or a bare DataPath parameter as a `DataPathInput`.

    Anything else is returned unchanged (for the caller to accept or refuse).
    """
    if is_data_path_parameter(item):
        return DataPathInput(item)
    if (
        isinstance(item, tuple)
        and len(item) == 2
        and is_data_path_parameter(item[0])
        and isinstance(item[1], DataPathComputeBinding)
    ):
        binding = item[1]
        return DataPathInput(item[0], binding.mode, binding.path_on_compute, binding.overwrite)
    return item
