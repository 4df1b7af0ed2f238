"""`Datastore`: a named place for pipeline data, resolved from an Airflow connection at run time."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.contract import CONNECTION_ID

if TYPE_CHECKING:
    from airflow_provider_mlpipe.authoring.data import DataReference
    from airflow_provider_mlpipe.hooks.datastore import DatastoreClient


class Datastore:
    """A datastore named by an Airflow connection id; nothing is looked up until it is used.

    `Datastore("name")` or, as in v1, `Datastore(workspace, "name")` (the workspace is ignored).
    `Datastore.default()` is `[mlpipe] default_datastore` when set, else the embedded local
    folder under `$AIRFLOW_HOME`, decided where the task runs.
    """

    def __init__(self, workspace_or_name: Any = None, name: str | None = None) -> None:
        if name is None and isinstance(workspace_or_name, str):
            name = workspace_or_name
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

    @property
    def is_default(self) -> bool:
        return self.name is None

    def path(self, path_on_datastore: str, data_reference_name: str | None = None) -> DataReference:
        """A `DataReference` to `path_on_datastore` on this datastore (v1's `Datastore.path`)."""
        from airflow_provider_mlpipe.authoring.data import DataReference

        return DataReference(self, data_reference_name, path_on_datastore)

    # Outside DAG files (notebooks, set-up scripts), like v1. These talk to storage.

    def client(self) -> DatastoreClient:
        """The run-time client of this datastore (resolves the Airflow connection now)."""
        from airflow_provider_mlpipe.hooks.resolve import resolve_datastore

        return resolve_datastore(self.name)

    def upload_files(
        self,
        files: list[str | Path],
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> int:
        """Upload each file to `target_path/<file name>`; existing files are kept unless `overwrite`."""
        from airflow_provider_mlpipe.hooks.datastore import join_datastore_path

        client = self.client()
        written = 0
        for file in files:
            local = Path(file)
            if not local.is_file():
                raise FileNotFoundError(f"datastore {self.label!r}: {local} is not a file")
            destination = join_datastore_path(target_path or "", local.name)
            if client.upload_file(local, destination, overwrite=overwrite):
                written += 1
            if show_progress:
                print(f"Uploaded {local} -> {client.uri(destination)}")
        return written

    def upload(
        self,
        src_dir: str | Path,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> int:
        """Upload every file under `src_dir` below `target_path`; returns how many were written."""
        from airflow_provider_mlpipe.hooks.datastore import clean_datastore_path

        local = Path(src_dir)
        if not local.is_dir():
            raise NotADirectoryError(f"datastore {self.label!r}: {local} is not a folder")
        client = self.client()
        destination = clean_datastore_path(target_path)
        written = client.upload_directory(local, destination, overwrite=overwrite)
        if show_progress:
            print(f"Uploaded {written} file(s) from {local} -> {client.uri(destination)}")
        return written

    def download(self, target_path: str | Path, prefix: str | None = None, show_progress: bool = True) -> int:
        """Download the files under `prefix` to `target_path/<prefix>/...`; returns the file count."""
        from airflow_provider_mlpipe.hooks.datastore import clean_datastore_path

        client = self.client()
        source = clean_datastore_path(prefix)
        destination = Path(target_path) / source if source else Path(target_path)
        if source and not client.is_directory(source):
            client.download(source, destination)
            count = 1
        else:
            count = len(client.list_files(source))
            if count:
                client.download(source, destination)
        if show_progress:
            print(f"Downloaded {count} file(s) from {client.uri(source)} -> {destination}")
        return count

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
