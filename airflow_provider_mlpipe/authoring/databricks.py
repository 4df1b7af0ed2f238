"""`DatabricksStep` and its libraries: v1's names, defaults and parse-time errors.

Plain objects (no Databricks or Azure imports). The step only describes the run in Databricks
Jobs API terms (`task_spec`, `cluster_spec`, `libraries_spec`); an operator submits it.
"""

from __future__ import annotations

import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from airflow_provider_mlpipe.authoring.data import PipelineData, PipelineParameter
from airflow_provider_mlpipe.authoring.steps import (
    PipelineStep,
    SourceFileLookup,
    StepInput,
    connection_id,
    data_of,
    encode_token,
)
from airflow_provider_mlpipe.authoring.values import FrozenValue
from airflow_provider_mlpipe.extras import require_extra

#: Airflow connection of the Databricks workspace when `compute_target` is not given.
DEFAULT_DATABRICKS_CONN_ID = "databricks_default"
#: v1's defaults for a new job cluster.
DEFAULT_SPARK_VERSION = "10.4.x-scala2.12"
DEFAULT_NODE_TYPE = "Standard_D3_v2"


# --------------------------------------------------------------------------------------------
# Libraries (v1: azureml.core.databricks)


def _required_text(library: str, field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{library}: {field_name} must be a non-empty string, got {value!r}")
    return value


def _optional_text(library: str, field_name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{library}: {field_name} must be a string, got {value!r}")
    return value


class MavenLibrary(FrozenValue):
    """A Maven package, e.g. `MavenLibrary("com.microsoft.azure:azure-eventhubs-spark_2.11:2.3.1")`."""

    __slots__ = ("coordinates", "repo", "exclusions")
    coordinates: str
    repo: str
    exclusions: tuple[str, ...]

    def __init__(self, coordinates: str, repo: str = "", exclusions: Any = ()) -> None:
        _required_text("MavenLibrary", "coordinates", coordinates)
        exclusions = () if exclusions is None else exclusions
        if isinstance(exclusions, str) or not isinstance(exclusions, list | tuple):
            raise ValueError(f"MavenLibrary: exclusions must be a list of strings, got {exclusions!r}")
        for exclusion in exclusions:
            _required_text("MavenLibrary", "each exclusion", exclusion)
        self._set(
            coordinates=coordinates,
            repo=_optional_text("MavenLibrary", "repo", repo),
            exclusions=tuple(exclusions),
        )

    def to_api(self) -> dict[str, Any]:
        maven: dict[str, Any] = {"coordinates": self.coordinates}
        if self.repo:
            maven["repo"] = self.repo
        if self.exclusions:
            maven["exclusions"] = list(self.exclusions)
        return {"maven": maven}


class PyPiLibrary(FrozenValue):
    """A PyPI package with an optional version spec, e.g. `PyPiLibrary("pandas==2.2.2")`."""

    __slots__ = ("package", "repo")
    package: str
    repo: str

    def __init__(self, package: str, repo: str = "") -> None:
        _required_text("PyPiLibrary", "package", package)
        self._set(package=package, repo=_optional_text("PyPiLibrary", "repo", repo))

    def to_api(self) -> dict[str, Any]:
        pypi = {"package": self.package}
        if self.repo:
            pypi["repo"] = self.repo
        return {"pypi": pypi}


class RCranLibrary(FrozenValue):
    """A CRAN package for R."""

    __slots__ = ("package", "repo")
    package: str
    repo: str

    def __init__(self, package: str, repo: str = "") -> None:
        _required_text("RCranLibrary", "package", package)
        self._set(package=package, repo=_optional_text("RCranLibrary", "repo", repo))

    def to_api(self) -> dict[str, Any]:
        cran = {"package": self.package}
        if self.repo:
            cran["repo"] = self.repo
        return {"cran": cran}


class _StoredLibrary(FrozenValue):
    """A library file already in the workspace's storage; `api_key` names its kind in the Jobs API."""

    __slots__ = ("library",)
    api_key: str
    library: str

    def __init__(self, library: str) -> None:
        _required_text(type(self).__name__, "library", library)
        self._set(library=library)

    def to_api(self) -> dict[str, Any]:
        return {self.api_key: self.library}


class JarLibrary(_StoredLibrary):
    """A jar already in the workspace's storage, e.g. `JarLibrary("dbfs:/jars/app.jar")`."""

    api_key = "jar"


class EggLibrary(_StoredLibrary):
    """A Python egg already in the workspace's storage."""

    api_key = "egg"


class WheelLibrary(_StoredLibrary):
    """A Python wheel already in the workspace's storage (not in v1; Databricks supports wheels)."""

    api_key = "whl"


# --------------------------------------------------------------------------------------------
# The step

_NEW_CLUSTER_FIELDS = (
    "spark_version",
    "node_type",
    "instance_pool_id",
    "num_workers",
    "min_workers",
    "max_workers",
    "spark_env_variables",
    "spark_conf",
    "init_scripts",
    "cluster_log_dbfs_path",
)
_LIBRARY_ARGUMENTS = (
    ("maven_libraries", MavenLibrary),
    ("pypi_libraries", PyPiLibrary),
    ("egg_libraries", EggLibrary),
    ("jar_libraries", JarLibrary),
    ("rcran_libraries", RCranLibrary),
    ("wheel_libraries", WheelLibrary),
)
_PARAMETER_TYPES = (str, int, float, bool, PipelineParameter)


def _is_set_by_user(value: Any) -> bool:
    """Set by the user: not None, and not an empty dict or list."""
    if value is None:
        return False
    return not (isinstance(value, dict | list | tuple) and len(value) == 0)


class DatabricksStep(PipelineStep):
    """Run a notebook, a Python file or a jar as a Databricks job run; v1's `DatabricksStep`.

    Exactly one of `notebook_path` (a workspace notebook), `python_script_path` (a file on
    DBFS), `python_script_name` (a file of `source_directory`, uploaded when the step runs)
    or `main_class_name` (a class of the `jar_libraries`). The run goes to an existing cluster
    (`existing_cluster_id`) or a new job cluster. Inputs and outputs reach a notebook as
    widgets and a Python file as `--<name> <uri>` arguments, by their names.

    `compute_target` names the Airflow connection of the workspace (default
    `databricks_default`), kept as `databricks_conn_id`; it is not an Airflow queue.
    `wheel_libraries` (keyword only) is not in v1.
    """

    kind = "DatabricksStep"

    def __init__(
        self,
        name: str,
        inputs: list[StepInput] | None = None,
        outputs: list[PipelineData] | None = None,
        existing_cluster_id: str | None = None,
        spark_version: str | None = None,
        node_type: str | None = None,
        instance_pool_id: str | None = None,
        num_workers: int | None = None,
        min_workers: int | None = None,
        max_workers: int | None = None,
        spark_env_variables: dict[str, str] | None = None,
        spark_conf: dict[str, str] | None = None,
        init_scripts: list[str] | None = None,
        cluster_log_dbfs_path: str | None = None,
        notebook_path: str | None = None,
        notebook_params: dict[str, Any] | None = None,
        python_script_path: str | None = None,
        python_script_params: list[Any] | None = None,
        main_class_name: str | None = None,
        jar_params: list[Any] | None = None,
        python_script_name: str | None = None,
        source_directory: str | Path | None = None,
        hash_paths: list[str] | None = None,
        run_name: str | None = None,
        timeout_seconds: int | None = None,
        runconfig: Any = None,
        maven_libraries: list[MavenLibrary] | None = None,
        pypi_libraries: list[PyPiLibrary] | None = None,
        egg_libraries: list[EggLibrary] | None = None,
        jar_libraries: list[JarLibrary] | None = None,
        rcran_libraries: list[RCranLibrary] | None = None,
        compute_target: Any = None,
        allow_reuse: bool = True,
        version: str | None = None,
        permit_cluster_restart: bool | None = None,
        *,
        wheel_libraries: list[WheelLibrary] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{self.kind}: name must be a non-empty string, got {name!r}")
        # Everything is checked before the base class registers this step as its outputs' producer.
        where = f"DatabricksStep {name!r}"
        require_extra("databricks", where)
        values = dict(locals())

        self._check_task(where, values)
        self.notebook_path = notebook_path
        self.python_script_path = python_script_path
        self.python_script_name = python_script_name
        self.main_class_name = main_class_name
        self.source_directory = None if source_directory is None else Path(source_directory)
        self._check_parameters(where, values)
        self.notebook_params: dict[str, Any] = dict(notebook_params or {})
        self.python_script_params: list[Any] = list(python_script_params or [])
        self.jar_params: list[Any] = list(jar_params or [])

        self.existing_cluster_id = existing_cluster_id
        self.permit_cluster_restart = permit_cluster_restart
        self.spark_version: str | None = None
        self.node_type: str | None = None
        self.instance_pool_id: str | None = None
        self.num_workers: int | None = None
        self.min_workers: int | None = None
        self.max_workers: int | None = None
        self.spark_env_variables: dict[str, str] = {}
        self.spark_conf: dict[str, str] = {}
        self.init_scripts: list[str] = []
        self.cluster_log_dbfs_path: str | None = None
        self._check_cluster(where, values)

        if timeout_seconds is not None and (
            isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, int) or timeout_seconds <= 0
        ):
            raise ValueError(f"{where}: timeout_seconds must be a positive int, got {timeout_seconds!r}")
        self.timeout_seconds = timeout_seconds
        if run_name is not None and (not isinstance(run_name, str) or not run_name.strip()):
            raise ValueError(f"{where}: run_name must be a non-empty string, got {run_name!r}")
        self.run_name = run_name or name
        self.libraries = self._check_libraries(where, values)
        conn_id = connection_id(where, compute_target, DEFAULT_DATABRICKS_CONN_ID, "Databricks workspace")

        super().__init__(name, inputs, outputs, None, conn_id, allow_reuse, version)
        # The base class would make a compute target an Airflow queue; here it is a connection.
        self.databricks_conn_id: str = self.compute_target or DEFAULT_DATABRICKS_CONN_ID
        self.compute_target = None

        if runconfig is not None:
            warnings.warn(
                f"step {name!r}: runconfig is ignored by DatabricksStep; the cluster is set with "
                "existing_cluster_id or the new-cluster arguments",
                UserWarning,
                stacklevel=2,
            )
        if hash_paths:
            warnings.warn(
                f"step {name!r}: hash_paths is deprecated (as in v1 since 1.0.45) and ignored; "
                "every file of source_directory is hashed",
                DeprecationWarning,
                stacklevel=2,
            )

    # -- parse-time checks ---------------------------------------------------------------------

    @staticmethod
    def _check_task(where: str, values: dict[str, Any]) -> None:
        kinds = ("notebook_path", "python_script_path", "python_script_name", "main_class_name")
        chosen = [k for k in kinds if values[k] is not None]
        if len(chosen) != 1:
            got = f"got {', '.join(chosen)}" if chosen else "got none"
            raise ValueError(
                f"{where}: exactly one of notebook_path, python_script_path, python_script_name or "
                f"main_class_name must be given ({got})"
            )
        for key in chosen:
            _check_text(where, key, values[key])
        if _is_set_by_user(values["notebook_params"]) and values["notebook_path"] is None:
            raise ValueError(f"{where}: notebook_params can only be used with notebook_path")
        if _is_set_by_user(values["python_script_params"]) and (
            values["python_script_path"] is None and values["python_script_name"] is None
        ):
            raise ValueError(
                f"{where}: python_script_params can only be used with python_script_path or "
                "python_script_name"
            )
        if _is_set_by_user(values["jar_params"]) and values["main_class_name"] is None:
            raise ValueError(f"{where}: jar_params can only be used with main_class_name")

        notebook_path, script_path = values["notebook_path"], values["python_script_path"]
        if notebook_path is not None and not notebook_path.startswith("/"):
            raise ValueError(
                f"{where}: notebook_path must be an absolute workspace path starting with '/', "
                f"got {notebook_path!r}"
            )
        if script_path is not None and not script_path.startswith("dbfs:/"):
            raise ValueError(
                f"{where}: python_script_path must be a DBFS path starting with 'dbfs:/', got "
                f"{script_path!r} (for a local file use python_script_name with source_directory)"
            )
        script_name, source_directory = values["python_script_name"], values["source_directory"]
        if script_name is not None:
            if source_directory is None:
                raise ValueError(f"{where}: python_script_name needs source_directory (it is relative to it)")
            relative = PurePosixPath(script_name.replace("\\", "/"))
            if relative.is_absolute() or Path(script_name).is_absolute() or ".." in relative.parts:
                raise ValueError(
                    f"{where}: python_script_name must be relative to source_directory, got {script_name!r}"
                )
        elif source_directory is not None:
            raise ValueError(f"{where}: source_directory is only used with python_script_name")
        if source_directory is not None and not isinstance(source_directory, str | Path):
            raise TypeError(f"{where}: source_directory must be a path, got {source_directory!r}")

    @staticmethod
    def _check_parameters(where: str, values: dict[str, Any]) -> None:
        notebook_params = values["notebook_params"]
        if notebook_params is not None and not isinstance(notebook_params, dict):
            raise TypeError(f"{where}: notebook_params must be a dict, got {notebook_params!r}")
        inputs, outputs = values["inputs"] or [], values["outputs"] or []
        data_names = {item.name for item in inputs if data_of(item) is not None}
        data_names |= {o.output_name for o in outputs if isinstance(o, PipelineData)}
        for key, value in (notebook_params or {}).items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"{where}: notebook_params keys must be non-empty strings, got {key!r}")
            if key in data_names:
                raise ValueError(
                    f"{where}: notebook_params key {key!r} is also the name of an input or output "
                    "(which reaches the notebook as a widget of that name)"
                )
            _check_parameter(where, f"notebook_params[{key!r}]", value)
        for label in ("python_script_params", "jar_params"):
            params = values[label]
            if params is None:
                continue
            if not isinstance(params, list | tuple):
                raise TypeError(f"{where}: {label} must be a list, got {params!r}")
            for index, value in enumerate(params):
                _check_parameter(where, f"{label}[{index}]", value)

    def _check_cluster(self, where: str, values: dict[str, Any]) -> None:
        existing = values["existing_cluster_id"]
        if existing is not None:
            _check_text(where, "existing_cluster_id", existing)
            clashing = [f for f in _NEW_CLUSTER_FIELDS if _is_set_by_user(values[f])]
            if clashing:
                raise ValueError(
                    f"{where}: existing_cluster_id excludes the new-cluster arguments; remove "
                    f"{', '.join(clashing)} or existing_cluster_id"
                )
            if values["permit_cluster_restart"] is not None and not isinstance(
                values["permit_cluster_restart"], bool
            ):
                raise TypeError(f"{where}: permit_cluster_restart must be a bool")
            return
        if values["permit_cluster_restart"] is not None:
            raise ValueError(f"{where}: permit_cluster_restart can only be used with existing_cluster_id")

        for key in ("spark_version", "node_type", "instance_pool_id"):
            if values[key] is not None:
                _check_text(where, key, values[key])
        if values["node_type"] is not None and values["instance_pool_id"] is not None:
            raise ValueError(f"{where}: give node_type or instance_pool_id, not both")
        self.spark_version = values["spark_version"] or DEFAULT_SPARK_VERSION
        self.instance_pool_id = values["instance_pool_id"]
        self.node_type = values["node_type"] if self.instance_pool_id is None else None
        if self.node_type is None and self.instance_pool_id is None:
            self.node_type = DEFAULT_NODE_TYPE

        num, low, high = values["num_workers"], values["min_workers"], values["max_workers"]
        for key, number in (("num_workers", num), ("min_workers", low), ("max_workers", high)):
            if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
                raise TypeError(f"{where}: {key} must be an int, got {number!r}")
            if number is not None and number < 0:
                raise ValueError(f"{where}: {key} must not be negative, got {number!r}")
        if num is not None and (low is not None or high is not None):
            raise ValueError(
                f"{where}: give either num_workers or min_workers and max_workers (autoscale), not both"
            )
        if num is None:
            if low is None and high is None:
                raise ValueError(
                    f"{where}: a new cluster needs num_workers or min_workers and max_workers (autoscale)"
                )
            if low is None or high is None:
                missing = "min_workers" if low is None else "max_workers"
                raise ValueError(
                    f"{where}: autoscale needs both min_workers and max_workers ({missing} is missing)"
                )
            if low > high:
                raise ValueError(f"{where}: min_workers ({low}) is greater than max_workers ({high})")
        self.num_workers, self.min_workers, self.max_workers = num, low, high

        for key in ("spark_env_variables", "spark_conf"):
            mapping = values[key]
            if mapping is None:
                continue
            if not isinstance(mapping, dict):
                raise TypeError(f"{where}: {key} must be a dict of strings")
            for k, v in mapping.items():
                if not isinstance(k, str) or not k or not isinstance(v, str):
                    raise TypeError(f"{where}: {key} must map non-empty strings to strings, got {k!r}: {v!r}")
            setattr(self, key, dict(mapping))
        scripts = values["init_scripts"]
        if scripts is not None:
            if isinstance(scripts, str) or not isinstance(scripts, list | tuple):
                raise TypeError(f"{where}: init_scripts must be a list of DBFS paths")
            for script in scripts:
                _check_dbfs(where, "init_scripts entry", script)
            self.init_scripts = list(scripts)
        if values["cluster_log_dbfs_path"] is not None:
            _check_dbfs(where, "cluster_log_dbfs_path", values["cluster_log_dbfs_path"])
            self.cluster_log_dbfs_path = values["cluster_log_dbfs_path"]

    @staticmethod
    def _check_libraries(where: str, values: dict[str, Any]) -> list[Any]:
        libraries: list[Any] = []
        for key, library_class in _LIBRARY_ARGUMENTS:
            given = values[key]
            if given is None:
                continue
            if not isinstance(given, list | tuple):
                raise TypeError(f"{where}: {key} must be a list of {library_class.__name__}")
            for library in given:
                if not isinstance(library, library_class):
                    raise TypeError(f"{where}: {key} takes {library_class.__name__} objects, got {library!r}")
            libraries.extend(given)
        return libraries

    # -- plain descriptions for the runtime ------------------------------------------------------

    @property
    def task_kind(self) -> str:
        if self.notebook_path is not None:
            return "notebook"
        if self.python_script_path is not None:
            return "python_file"
        if self.python_script_name is not None:
            return "python_script"
        return "jar"

    def operator_kwargs(
        self, source_directory: Path | None, script_path: Path | None, arguments: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "task_spec": self.task_spec(),
            "cluster_spec": self.cluster_spec(),
            "libraries": self.libraries_spec(),
            "run_name": self.run_name,
            "timeout_seconds": self.timeout_seconds,
            "databricks_conn_id": self.databricks_conn_id,
            "source_directory": str(source_directory) if source_directory else None,
        }

    def task_spec(self) -> dict[str, Any]:
        """What runs, with its parameters as strings (`{"parameter": name}` for a PipelineParameter)."""
        kind = self.task_kind
        if kind == "notebook":
            return {
                "kind": kind,
                "notebook_path": self.notebook_path,
                "base_parameters": {
                    k: encode_token(v, bare_literal=True) for k, v in self.notebook_params.items()
                },
            }
        if kind == "python_file":
            return {
                "kind": kind,
                "python_file": self.python_script_path,
                "parameters": [encode_token(v, bare_literal=True) for v in self.python_script_params],
            }
        if kind == "python_script":
            return {
                "kind": kind,
                "python_script_name": PurePosixPath(self.python_script_name.replace("\\", "/")).as_posix(),
                "parameters": [encode_token(v, bare_literal=True) for v in self.python_script_params],
            }
        return {
            "kind": kind,
            "main_class_name": self.main_class_name,
            "parameters": [encode_token(v, bare_literal=True) for v in self.jar_params],
        }

    def cluster_spec(self) -> dict[str, Any]:
        """`{"existing_cluster_id": ...}` or `{"new_cluster": <Jobs API new_cluster>}`."""
        if self.existing_cluster_id is not None:
            return {"existing_cluster_id": self.existing_cluster_id}
        cluster: dict[str, Any] = {"spark_version": self.spark_version}
        if self.instance_pool_id is not None:
            cluster["instance_pool_id"] = self.instance_pool_id
        else:
            cluster["node_type_id"] = self.node_type
        if self.num_workers is not None:
            cluster["num_workers"] = self.num_workers
        else:
            cluster["autoscale"] = {"min_workers": self.min_workers, "max_workers": self.max_workers}
        if self.spark_env_variables:
            cluster["spark_env_vars"] = dict(self.spark_env_variables)
        if self.spark_conf:
            cluster["spark_conf"] = dict(self.spark_conf)
        if self.init_scripts:
            cluster["init_scripts"] = [{"dbfs": {"destination": s}} for s in self.init_scripts]
        if self.cluster_log_dbfs_path is not None:
            cluster["cluster_log_conf"] = {"dbfs": {"destination": self.cluster_log_dbfs_path}}
        return {"new_cluster": cluster}

    def libraries_spec(self) -> list[dict[str, Any]]:
        """Every library in Jobs API form."""
        return [library.to_api() for library in self.libraries]

    def parameters(self) -> list[PipelineParameter]:
        values = [*self.notebook_params.values(), *self.python_script_params, *self.jar_params]
        return [v for v in values if isinstance(v, PipelineParameter)]

    # -- files relative to the DAG file ----------------------------------------------------------

    def locate(
        self, files: SourceFileLookup, default_source_directory: str | Path | None = None
    ) -> tuple[Path | None, Path | None]:
        """(source folder, script path) of a `python_script_name` step; (None, None) otherwise."""
        if self.python_script_name is None or self.source_directory is None:
            return None, None
        source = files.resolve(self.source_directory)
        return source, source / self.python_script_name

    def problems(
        self, files: SourceFileLookup, default_source_directory: str | Path | None = None
    ) -> list[str]:
        source, script = self.locate(files, default_source_directory)
        if source is None or script is None:
            return []
        if not files.is_dir(source):
            return [f"step {self.name!r}: source_directory {str(source)!r} is not a folder"]
        if not files.is_file(script):
            return [
                f"step {self.name!r}: python_script_name {self.python_script_name!r} is missing from "
                f"source_directory {str(source)!r}"
            ]
        return []


def _check_text(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _check_dbfs(where: str, key: str, value: Any) -> None:
    if not isinstance(value, str) or not value.startswith("dbfs:/"):
        raise ValueError(f"{where}: {key} must be a DBFS path starting with 'dbfs:/', got {value!r}")


def _check_parameter(where: str, label: str, value: Any) -> None:
    if data_of(value) is not None:
        raise TypeError(
            f"{where}: {label} is a data object; list it in inputs or outputs, and the run gets its "
            "location by name"
        )
    if not isinstance(value, _PARAMETER_TYPES):
        raise TypeError(f"{where}: {label} {value!r} is not a string, number, bool or PipelineParameter")
