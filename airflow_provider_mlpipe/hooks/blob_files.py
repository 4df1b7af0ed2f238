"""Moving local files to and from a Blob datastore: many files at once, big blobs in parallel
blocks or ranges, each download to a temporary name first. Mixed into `BlobDatastore`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from airflow_provider_mlpipe.exceptions import DatastoreError, NothingAtPath
from airflow_provider_mlpipe.hooks.blob_session import MAX_BLOB_CONCURRENCY
from airflow_provider_mlpipe.hooks.datastore import clean_datastore_path

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from azure.storage.blob import BlobProperties, ContainerClient


def is_blob_folder_marker(blob: BlobProperties) -> bool:
    """True for blobs that stand for folders: ADLS Gen2 directories, or names ending in '/'."""
    metadata = blob.metadata or {}
    return blob.name.endswith("/") or str(metadata.get("hdi_isfolder", "")).lower() == "true"


class BlobFiles:
    """Downloads and uploads of one datastore's blobs; listing and errors come from the datastore."""

    name: str
    container: str
    _container_client: ContainerClient
    _blob_name: Callable[[str], str]
    _errors: Callable[[str, str], AbstractContextManager[None]]
    _run_parallel: Callable[[Callable[[Any], Any], list[Any]], list[Any]]
    _create_container: Callable[[], None]
    _prefix: Callable[[str], str]
    list_blobs: Callable[[str], list[tuple[str, BlobProperties]]]

    # ------------------------------------------------------------------ reading

    def download(self, path: str, local_path: Path) -> Path:
        """Copy the file at `path` to `local_path`, or the folder `path` to the tree under `local_path`.

        A non-empty blob named exactly `path` is the file: one GET, as for a known file (a listing
        beside it put an 8 MiB download at 0.83x the plain SDK on Azurite). No blob, or an empty
        or folder-marker blob (tools leave those to stand for folders), means the folder below it;
        an empty blob with nothing below it is an empty file.
        """
        local_path = Path(local_path)
        blob_name = self._blob_name(path)
        fetched = self._fetch_blob(blob_name, local_path)
        if fetched is not None and self._is_content(fetched[1]):
            os.replace(fetched[0], local_path)
            return local_path
        try:
            listing = self.list_blobs(path)
        except BaseException:
            if fetched is not None:
                fetched[0].unlink(missing_ok=True)
            raise
        if listing or fetched is None or is_blob_folder_marker(fetched[1]):
            if fetched is not None:
                fetched[0].unlink(missing_ok=True)
            if not listing:
                raise NothingAtPath(f"datastore {self.name!r}: nothing at {path!r}")
            self.download_directory(path, local_path, listing)
        else:
            os.replace(fetched[0], local_path)  # an empty file
        return local_path

    @staticmethod
    def _is_content(properties: BlobProperties) -> bool:
        """A blob that is a file whatever lies below its name: not empty, not a folder marker."""
        return bool(properties.size) and not is_blob_folder_marker(properties)

    def download_file(self, path: str, local_file: Path) -> Path:
        """Copy the blob exactly at `path` (never a folder of that name) to the file `local_file`."""
        local_file = Path(local_file)
        if not self._download_blob(self._blob_name(path), local_file):
            raise DatastoreError(f"datastore {self.name!r}: no file at {path!r}")
        return local_file

    def download_directory(
        self, path: str, local_dir: Path, listing: list[tuple[str, BlobProperties]] | None = None
    ) -> int:
        """Copy every blob below the folder `path` to the tree under `local_dir`, many at once.

        `listing` is `list_blobs(path)` when the caller has it already. Returns the file count.
        """
        local_dir = Path(local_dir)
        listing = self.list_blobs(path) if listing is None else listing
        if not listing:
            raise DatastoreError(f"datastore {self.name!r}: no files below {path!r}")
        jobs = [(blob.name, local_dir / self._relative_local(relative)) for relative, blob in listing]
        local_dir.mkdir(parents=True, exist_ok=True)
        self._run_parallel(self._download_listed, jobs)
        return len(jobs)

    def _relative_local(self, relative: str) -> str:
        """A blob's path below a folder, refused when its name would escape the download folder."""
        try:
            return clean_datastore_path(relative)
        except DatastoreError as exc:
            raise DatastoreError(
                f"datastore {self.name!r}: blob {relative!r} cannot be saved: {exc}"
            ) from None

    def _download_listed(self, job: tuple[str, Path]) -> None:
        blob_name, target = job
        if not self._download_blob(blob_name, target):
            raise DatastoreError(f"datastore {self.name!r}: {blob_name!r} vanished during the download")

    def _download_blob(self, blob_name: str, target: Path) -> bool:
        """Stream one blob into `target` through a temporary file; False when there is no such blob."""
        fetched = self._fetch_blob(blob_name, target)
        if fetched is None:
            return False
        os.replace(fetched[0], target)
        return True

    def _fetch_blob(self, blob_name: str, target: Path) -> tuple[Path, BlobProperties] | None:
        """Stream one blob into a temporary file beside `target`: (its path, the blob's properties),
        or None when there is no blob."""
        if not blob_name:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        try:
            with self._errors("download", blob_name):
                properties = self._stream_blob(blob_name, partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if properties is None:
            partial.unlink(missing_ok=True)
            return None
        return partial, properties

    def _stream_blob(self, blob_name: str, target: Path) -> BlobProperties | None:
        """GET the blob into `target`; its properties (from the same response), None when there is none."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with target.open("wb") as handle:
                downloader = self._container_client.get_blob_client(blob_name).download_blob(
                    max_concurrency=MAX_BLOB_CONCURRENCY
                )
                downloader.readinto(handle)
        except ResourceNotFoundError:
            return None
        return downloader.properties

    def upload_file(self, local_file: Path, path: str, overwrite: bool = False) -> bool:
        """Store one local file at `path`; with overwrite=False an existing blob is kept (False)."""
        blob_name = self._blob_name(path)
        if not blob_name:
            raise DatastoreError(f"datastore {self.name!r}: a file needs a path, got {path!r}")
        local_file = Path(local_file)
        if not local_file.is_file():
            raise DatastoreError(f"datastore {self.name!r}: no local file at {str(local_file)!r}")
        return self._upload_blob(local_file, blob_name, overwrite)

    def upload_directory(self, local_dir: Path, path: str, overwrite: bool = False) -> int:
        """Store every file under `local_dir` below `path` concurrently; returns how many were written."""
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise DatastoreError(f"datastore {self.name!r}: no local folder at {str(local_dir)!r}")
        prefix = self._prefix(self._blob_name(path))
        jobs = [
            (f, prefix + f.relative_to(local_dir).as_posix())
            for f in sorted(local_dir.rglob("*"))
            if f.is_file()
        ]
        return self._upload_listed(jobs, overwrite)

    def upload_many(self, jobs: list[tuple[Path, str]], overwrite: bool = False) -> int:
        """Store each (local file, path) pair, many at once; returns how many were written."""
        blob_jobs = []
        for local_file, path in jobs:
            blob_name = self._blob_name(path)
            if not blob_name:
                raise DatastoreError(f"datastore {self.name!r}: a file needs a path, got {path!r}")
            blob_jobs.append((Path(local_file), blob_name))
        return self._upload_listed(blob_jobs, overwrite)

    def _upload_listed(self, jobs: list[tuple[Path, str]], overwrite: bool) -> int:
        written = self._run_parallel(lambda job: self._upload_blob(job[0], job[1], overwrite), jobs)
        return sum(written)

    def _upload_blob(self, local_file: Path, blob_name: str, overwrite: bool) -> bool:
        """Stream one file to a blob, creating the container once if it is missing."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        with self._errors("upload", blob_name), local_file.open("rb") as handle:
            try:
                self._put(handle, blob_name, overwrite)
            except ResourceExistsError:
                return False
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", None) != "ContainerNotFound":
                    raise
                self._create_container()
                handle.seek(0)
                try:
                    self._put(handle, blob_name, overwrite)
                except ResourceExistsError:
                    return False
        return True

    def _put(self, handle: BinaryIO, blob_name: str, overwrite: bool) -> None:
        length = os.fstat(handle.fileno()).st_size
        self._container_client.get_blob_client(blob_name).upload_blob(
            handle, length=length, overwrite=overwrite, max_concurrency=MAX_BLOB_CONCURRENCY
        )
