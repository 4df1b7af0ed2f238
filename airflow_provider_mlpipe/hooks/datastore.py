"""The run-time face of a named datastore: what steps and notebooks need from storage.

`Datastore("name")` in a DAG file is only a name. When a task runs, `resolve_datastore`
looks the name up among Airflow connections and returns one of these clients: a local
folder (`mlpipe_local`) or Azure Blob (`wasb`). Paths on a datastore are POSIX-style and
relative ("mlpipe/dag/run/task/model"); a path names either one file or a folder of files.
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from pathlib import Path

from airflow_provider_mlpipe.exceptions import DatastoreError, NothingAtPath

#: The errors live in `exceptions`; importable from here too, beside the clients that raise them.
__all__ = [
    "DatastoreClient",
    "DatastoreError",
    "NothingAtPath",
    "clean_datastore_path",
    "join_datastore_path",
    "name_prefix",
]


def clean_datastore_path(path: str | None) -> str:
    """Normalise a path on a datastore: forward slashes, no leading slash, no '..' escape."""
    text = (path or "").replace("\\", "/").strip("/")
    if not text:
        return ""
    normalised = posixpath.normpath(text)
    if normalised == "." or normalised.startswith("../") or normalised == "..":
        raise DatastoreError(f"path {path!r} leaves the datastore")
    return normalised


def join_datastore_path(*parts: str) -> str:
    """Join path segments on a datastore, ignoring empty ones."""
    return clean_datastore_path("/".join(p.strip("/") for p in parts if p and p.strip("/")))


def name_prefix(prefix: str | None) -> tuple[str, str]:
    """(the folder to list, the cleaned prefix) of a name prefix such as v1's `download` takes:
    "data" matches "data/x" and "data2/y"; "data/" only what is below the folder "data"."""
    head, separator, last = (prefix or "").replace("\\", "/").lstrip("/").rpartition("/")
    folder = clean_datastore_path(head)
    if separator and not last:
        return folder, f"{folder}/" if folder else ""
    return folder, join_datastore_path(folder, last)


class DatastoreClient(ABC):
    """Operations every datastore kind offers; implementations are built per task at run time."""

    #: "local" or "blob": recorded in XCom so consumers and the UI know what a URI means.
    kind: str

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def uri(self, path: str) -> str:
        """A URI a person or another tool can use to find `path` (file:// or https://)."""

    @abstractmethod
    def exists(self, path: str) -> bool:
        """True when `path` is a file or a folder holding at least one file."""

    @abstractmethod
    def is_directory(self, path: str) -> bool:
        """True when `path` is a folder (has files below it) rather than one file."""

    @abstractmethod
    def list_files(self, path: str) -> list[str]:
        """Paths (relative to `path`, sorted) of every file under the folder `path`."""

    @abstractmethod
    def download(self, path: str, local_path: Path) -> Path:
        """Copy the file or folder at `path` to `local_path` (created); returns `local_path`."""

    @abstractmethod
    def upload_file(self, local_file: Path, path: str, overwrite: bool = False) -> bool:
        """Store one local file at `path`. Returns False when it existed and was kept."""

    @abstractmethod
    def upload_directory(self, local_dir: Path, path: str, overwrite: bool = False) -> int:
        """Store every file under `local_dir` below `path`; returns how many were written."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Remove the file or the whole folder at `path` (nothing there is fine)."""

    @abstractmethod
    def content_identity(self, path: str) -> list[tuple[str, str]]:
        """(path relative to `path`, identity) of every file there, sorted; "" names `path` itself.

        The identity changes whenever a file's content does, and is cheap to get: Blob gives
        an etag from one listing (no content read); a local folder a cached content digest.
        """

    @abstractmethod
    def read_bytes(self, path: str) -> bytes | None:
        """The content of the small file at `path` (an index entry), or None when there is none."""

    @abstractmethod
    def create_only(self, path: str, data: bytes) -> bool:
        """Write `data` at `path` only if nothing is there, atomically; False when it already existed."""

    @abstractmethod
    def read_versioned(self, path: str) -> tuple[bytes, str] | None:
        """The content of the small file at `path` and a token naming that very version, or None."""

    @abstractmethod
    def replace_if_unchanged(self, path: str, data: bytes, version: str) -> bool:
        """Compare-and-swap: write `data` at `path` only while it still holds `version` (from
        `read_versioned`), or create it when nothing is there any more; False when another version is
        there now, which is kept."""

    def list_prefixed(self, prefix: str) -> list[str]:
        """Sorted paths of every file whose path starts with `prefix` (see `name_prefix`; "": all)."""
        folder, wanted = name_prefix(prefix)
        found = (join_datastore_path(folder, relative) for relative in self.list_files(folder))
        return sorted(path for path in found if path.startswith(wanted))

    def download_file(self, path: str, local_file: Path) -> Path:
        """Copy the one file at `path` to `local_file`."""
        return self.download(path, local_file)

    def spark_uri(self, path: str) -> str:
        """How Spark on Databricks names `path` (Blob: wasbs://container@account/...)."""
        return self.uri(path)

    def usql_path(self, path: str) -> str:
        """How a U-SQL script on ADLA names `path`: a local path, or wasb://container@account/..."""
        local = self.local_path(path)
        if local is not None:
            return str(local)
        uri = self.spark_uri(path)
        return "wasb://" + uri.removeprefix("wasbs://") if uri.startswith("wasbs://") else uri

    def local_path(self, path: str) -> Path | None:
        """Where `path` can be read in place on this machine, or None (remote storage)."""
        return None

    def publish(self, local: Path, path: str) -> None:
        """Make `path` hold exactly `local` (file or folder), replacing an earlier attempt's files."""
        self.delete(path)
        if local.is_dir():
            self.upload_directory(local, path, overwrite=True)
        else:
            self.upload_file(local, path, overwrite=True)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
