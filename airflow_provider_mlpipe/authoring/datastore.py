"""`Datastore`: a named place for pipeline data, resolved from an Airflow connection at run time;
`DataReference`: existing data on one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.authoring.values import INPUT_MODES, check_mode, check_word_name
from airflow_provider_mlpipe.contract import CONNECTION_ID

if TYPE_CHECKING:
    from airflow_provider_mlpipe.hooks.datastore import DatastoreClient


class Datastore:
    """A datastore named by an Airflow connection id; nothing is looked up until it is used.

    `Datastore("name")` or, as in v1, `Datastore(workspace, "name")` (the workspace is ignored).
    `Datastore.default()` is `[mlpipe] default_datastore` when set, else the embedded local
    folder under `$AIRFLOW_HOME`, decided where the task runs.
    """

    def __init__(self, workspace: Any, name: str | None = None) -> None:
        if name is None and isinstance(workspace, str):
            name = workspace  # our short form: Datastore("name")
        if name is not None and (not isinstance(name, str) or not CONNECTION_ID.fullmatch(name)):
            raise ValueError(
                f"Datastore name {name!r} is not a valid Airflow connection id "
                "(letters, digits, '_', '.', '-')"
            )
        self.name = name

    @classmethod
    def default(cls) -> Datastore:
        """The default datastore, resolved at run time (see the class docstring)."""
        return cls(None)

    @staticmethod
    def get(workspace: Any, datastore_name: str) -> Datastore:
        """v1's `Datastore.get`: the datastore of that name (an Airflow connection id)."""
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Any) -> Datastore:
        """v1's `Datastore.get_default`: the default datastore (see the class docstring)."""
        return Datastore.default()

    @property
    def is_default(self) -> bool:
        return self.name is None

    def path(self, path_on_datastore: str, data_reference_name: str | None = None) -> DataReference:
        """A `DataReference` to `path_on_datastore` on this datastore (v1's `Datastore.path`)."""
        return DataReference(self, data_reference_name, path_on_datastore)

    # Outside DAG files (notebooks, set-up scripts), like v1. These talk to storage, through
    # `storage_actions`, the one module by which authoring objects reach the hooks.

    def client(self) -> DatastoreClient:
        """The run-time client of this datastore (resolves the Airflow connection now)."""
        from airflow_provider_mlpipe import storage_actions

        return storage_actions.client(self.name)

    def upload_files(
        self,
        files: list[str | Path],
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> int:
        """Upload each file to `target_path/<file name>`; existing files are kept unless `overwrite`."""
        from airflow_provider_mlpipe import storage_actions

        return storage_actions.upload_files(self.name, files, target_path, overwrite, show_progress)

    def upload(
        self,
        src_dir: str | Path,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> int:
        """Upload every file under `src_dir` below `target_path`; returns how many were written."""
        from airflow_provider_mlpipe import storage_actions

        return storage_actions.upload_folder(self.name, src_dir, target_path, overwrite, show_progress)

    def download(self, target_path: str | Path, prefix: str | None = None, show_progress: bool = True) -> int:
        """Download the files under `prefix` to `target_path/<prefix>/...`; returns the file count."""
        from airflow_provider_mlpipe import storage_actions

        return storage_actions.download(self.name, target_path, prefix, show_progress)

    @property
    def label(self) -> str:
        """How this datastore is named in messages."""
        return self.name or "default"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Datastore) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("Datastore", self.name))

    def __repr__(self) -> str:
        return "Datastore.default()" if self.is_default else f"Datastore({self.name!r})"


class DataReference:
    """Existing data on a datastore (a file or a folder) that steps read."""

    def __init__(
        self,
        datastore: Datastore,
        data_reference_name: str | None = None,
        path_on_datastore: str | None = None,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ) -> None:
        if not isinstance(datastore, Datastore):
            raise TypeError(f"DataReference {data_reference_name!r}: datastore must be a Datastore")
        if data_reference_name is None:
            data_reference_name = datastore.name or "default"
        self.data_reference_name = check_word_name("DataReference", data_reference_name)
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore or ""
        self.mode = check_mode(f"DataReference {data_reference_name!r}", mode, INPUT_MODES)
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    @property
    def name(self) -> str:
        return self.data_reference_name

    def as_mount(self) -> DataReference:
        return self._with_mode("mount")

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        return self._with_mode("download", path_on_compute)

    def _with_mode(self, mode: str, path_on_compute: str | None = None) -> DataReference:
        return DataReference(
            self.datastore,
            self.data_reference_name,
            self.path_on_datastore,
            mode,
            path_on_compute or self.path_on_compute,
            self.overwrite,
        )

    def __repr__(self) -> str:
        return (
            f"DataReference({self.datastore!r}, {self.data_reference_name!r}, "
            f"{self.path_on_datastore!r}, mode={self.mode!r})"
        )
