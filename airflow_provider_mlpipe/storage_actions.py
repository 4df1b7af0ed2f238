"""What notebooks and set-up scripts do to a datastore by name: upload, download, get its client.

The one module through which authoring objects (`Datastore.upload_files`, ...) reach the hooks,
imported when such an action runs, never when a DAG file is parsed. `datastore` is a connection
id, None for the default datastore; messages call the default "default".
"""

from __future__ import annotations

from pathlib import Path

from airflow_provider_mlpipe.hooks.datastore import DatastoreClient, clean_datastore_path, join_datastore_path
from airflow_provider_mlpipe.hooks.resolve import resolve_datastore


def client(datastore: str | None) -> DatastoreClient:
    """The run-time client of the datastore (resolves the Airflow connection now)."""
    return resolve_datastore(datastore)


def upload_files(
    datastore: str | None,
    files: list[str | Path],
    target_path: str | None,
    overwrite: bool,
    show_progress: bool,
) -> int:
    """Upload each file to `target_path/<file name>`; returns how many were written."""
    store = client(datastore)
    written = 0
    for file in files:
        local = Path(file)
        if not local.is_file():
            raise FileNotFoundError(f"datastore {datastore or 'default'!r}: {local} is not a file")
        destination = join_datastore_path(target_path or "", local.name)
        if store.upload_file(local, destination, overwrite=overwrite):
            written += 1
        if show_progress:
            print(f"Uploaded {local} -> {store.uri(destination)}")
    return written


def upload_folder(
    datastore: str | None, src_dir: str | Path, target_path: str | None, overwrite: bool, show_progress: bool
) -> int:
    """Upload every file under `src_dir` below `target_path`; returns how many were written."""
    local = Path(src_dir)
    if not local.is_dir():
        raise NotADirectoryError(f"datastore {datastore or 'default'!r}: {local} is not a folder")
    store = client(datastore)
    destination = clean_datastore_path(target_path)
    written = store.upload_directory(local, destination, overwrite=overwrite)
    if show_progress:
        print(f"Uploaded {written} file(s) from {local} -> {store.uri(destination)}")
    return written


def download(datastore: str | None, target_path: str | Path, prefix: str | None, show_progress: bool) -> int:
    """Download the file or the files under `prefix` to `target_path/<prefix>`; returns the file count."""
    store = client(datastore)
    source = clean_datastore_path(prefix)
    destination = Path(target_path) / source if source else Path(target_path)
    if source and not store.is_directory(source):
        store.download(source, destination)
        count = 1
    else:
        count = len(store.list_files(source))
        if count:
            store.download(source, destination)
    if show_progress:
        print(f"Downloaded {count} file(s) from {store.uri(source)} -> {destination}")
    return count
