"""What notebooks and set-up scripts do to a datastore by name: upload, download, get its client.

The one module through which authoring objects (`Datastore.upload_files`, ...) reach the hooks,
imported when such an action runs, never when a DAG file is parsed. `datastore` is a connection
id, None for the default datastore; messages call the default "default". Files move several at
a time, with a progress line when `show_progress` (see `progress.py`).
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_mlpipe.hooks.azure_errors import run_parallel
from airflow_provider_mlpipe.hooks.blob_session import MAX_FILE_WORKERS
from airflow_provider_mlpipe.hooks.datastore import (
    DatastoreClient,
    DatastoreError,
    clean_datastore_path,
    join_datastore_path,
)
from airflow_provider_mlpipe.hooks.resolve import default_datastore_name as _default_name
from airflow_provider_mlpipe.hooks.resolve import resolve_datastore
from airflow_provider_mlpipe.progress import Progress


def client(datastore: str | None) -> DatastoreClient:
    """The run-time client of the datastore (resolves the Airflow connection now)."""
    return resolve_datastore(datastore)


def default_datastore_name() -> str:
    """The connection id the default datastore resolves to on this machine, now."""
    return _default_name()


def placements(
    files: list[str | Path], relative_root: str | Path | None, target_path: str | None
) -> list[tuple[Path, str]]:
    """(local file, path on the datastore) of each file, as v1's `upload_files` places them:
    `target_path` + the file's path below `relative_root` (default: the files' common folder).

    Relative paths are read from the working folder. A missing file, or a file outside
    `relative_root`, is refused before anything is uploaded.
    """
    local = [Path(os.path.abspath(file)) for file in files]
    for file in local:
        if not file.is_file():
            raise FileNotFoundError(f"upload_files: {file} is not a file")
    if not local:
        return []
    root = (
        Path(os.path.abspath(relative_root))
        if relative_root
        else Path(os.path.commonpath([str(file.parent) for file in local]))
    )
    target = clean_datastore_path(target_path)
    found = []
    for file in local:
        try:
            below = file.relative_to(root)
        except ValueError:
            raise ValueError(
                f"upload_files: relative_root {str(root)!r} does not hold {str(file)!r} (give a "
                "folder that holds every file, or None for their common folder)"
            ) from None
        found.append((file, join_datastore_path(target, below.as_posix())))
    return found


def upload_files(
    datastore: str | None,
    files: list[str | Path],
    relative_root: str | Path | None,
    target_path: str | None,
    overwrite: bool,
    show_progress: bool,
) -> str:
    """Upload `files` where `placements` puts them; returns the cleaned `target_path`."""
    if isinstance(files, str | Path):
        raise TypeError("upload_files: files must be a list of file paths (use upload() for a folder)")
    jobs = placements(list(files), relative_root, target_path)
    _upload(client(datastore), jobs, overwrite, show_progress)
    return clean_datastore_path(target_path)


def upload_folder(
    datastore: str | None, src_dir: str | Path, target_path: str | None, overwrite: bool, show_progress: bool
) -> str:
    """Upload every file under `src_dir` to its relative path below `target_path`; returns the
    cleaned `target_path`."""
    local = Path(src_dir)
    if not local.is_dir():
        raise NotADirectoryError(f"datastore {datastore or 'default'!r}: {local} is not a folder")
    target = clean_datastore_path(target_path)
    jobs = []
    for folder, _dirs, names in os.walk(local):
        for name in sorted(names):
            file = Path(folder, name)
            if file.is_file():
                jobs.append((file, join_datastore_path(target, file.relative_to(local).as_posix())))
    _upload(client(datastore), jobs, overwrite, show_progress)
    return target


def _upload(store: DatastoreClient, jobs: list[tuple[Path, str]], overwrite: bool, show: bool) -> int:
    """Store each (local file, path) pair, several at once; returns how many were written."""
    sizes = {file: file.stat().st_size for file, _ in jobs}
    with Progress(f"Uploading to {store.name}", len(jobs), sum(sizes.values()), enabled=show) as progress:

        def one(job: tuple[Path, str]) -> bool:
            written = store.upload_file(job[0], job[1], overwrite=overwrite)
            if written:
                progress.advance(size=sizes[job[0]])
            else:
                progress.skip()
            return written

        return sum(run_parallel(one, jobs, MAX_FILE_WORKERS, "mlpipe-upload"))


def download(
    datastore: str | None, target_path: str | Path, prefix: str | None, overwrite: bool, show_progress: bool
) -> int:
    """Download every file whose path starts with `prefix` to `target_path/<its path>`; files
    already there are kept unless `overwrite`. Returns how many were downloaded."""
    store = client(datastore)
    target = Path(target_path)
    target.mkdir(parents=True, exist_ok=True)
    paths = _refuse_clashes(store, store.list_prefixed(prefix or ""))
    with Progress(f"Downloading from {store.name}", len(paths), enabled=show_progress) as progress:

        def one(path: str) -> bool:
            local = target / clean_datastore_path(path)
            if local.exists() and not overwrite:
                progress.skip()
                return False
            store.download_file(path, local)
            progress.advance(size=local.stat().st_size)
            return True

        return sum(run_parallel(one, paths, MAX_FILE_WORKERS, "mlpipe-download"))


def _refuse_clashes(store: DatastoreClient, paths: list[str]) -> list[str]:
    """`paths`, unless one is a file and also a folder of another (they cannot both be saved)."""
    names = set(paths)
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in names:
                raise DatastoreError(
                    f"datastore {store.name!r}: {folder!r} is a file and also a folder of {path!r}; "
                    "they cannot both be downloaded (give a prefix that leaves one out)"
                )
    return paths
