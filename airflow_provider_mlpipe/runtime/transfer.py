"""Copy a file or a folder between datastores: what a `DataTransferStep` does when it runs.

`copy_data` picks the cheapest way for the pair of datastores it is given:

- Blob -> Blob on one storage account: server-side copies (Copy Blob, many at once). No
  content passes through the worker; each copy is waited for until the service reports it
  done. Same-account copies are authorized by the destination's shared key; with SAS or
  token credentials the source URL carries a read SAS (the source client's own, one signed
  with its account key, or a user delegation SAS). When none can be made, or the service
  refuses the first copy, the blobs are streamed instead.
- Blob -> Blob across accounts: streamed through the worker. Blobs up to `BLOCK_SIZE` go in
  one GET and one PUT; bigger ones as ranged GETs staged as blocks, MAX_BLOB_CONCURRENCY at a
  time, then one commit. Memory is bounded by MAX_FILE_WORKERS * MAX_BLOB_CONCURRENCY *
  BLOCK_SIZE, never a whole file. Each source blob is read at the etag it was listed with.
- local folder -> Blob: the Blob datastore's concurrent uploads; Blob -> local folder: its
  concurrent downloads, into a staging folder swapped in with one rename.
- local folder -> local folder: file copies into a staging folder, swapped in the same way.

The destination is replaced: whatever was at `destination_path` (a file, or a folder with
other files) is gone afterwards. A source and a destination that overlap on the same storage
are refused, as is the destination path "" (the whole datastore).
"""

from __future__ import annotations

import base64
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from airflow_provider_mlpipe.hooks.azure_errors import (
    azure_errors_as,
    describe_azure_error,
    error_code,
    run_parallel,
)
from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore
from airflow_provider_mlpipe.hooks.blob_session import BLOCK_SIZE, MAX_BLOB_CONCURRENCY, MAX_FILE_WORKERS
from airflow_provider_mlpipe.hooks.datastore import (
    DatastoreClient,
    DatastoreError,
    clean_datastore_path,
    join_datastore_path,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

KINDS = ("file", "directory")
#: How the bytes moved (`TransferResult.method`).
SERVER_SIDE, STREAMED, UPLOAD, DOWNLOAD, LOCAL, RELAYED = (
    "server-side",
    "streamed",
    "upload",
    "download",
    "local",
    "relayed",
)
#: Polling of a pending server-side copy: first wait, and the longest wait between two polls.
COPY_POLL_FIRST_S = 0.05
COPY_POLL_MAX_S = 2.0
#: Error codes with which the service refuses to read a copy's source: fall back to streaming.
_SOURCE_REFUSED = {
    "CannotVerifyCopySource",
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "AuthenticationFailed",
    "AuthorizationSourceIPMismatch",
}


@dataclass(frozen=True)
class TransferResult:
    """What one copy did: files written, their total size in bytes, and how the bytes moved.

    `method` is "server-side" (no content through the worker), "streamed", "upload",
    "download", "local" or "relayed" (through a temporary folder, for other datastore kinds);
    "server-side+streamed" when the service stopped accepting server-side copies part way.
    """

    files: int
    bytes: int
    method: str


@dataclass(frozen=True)
class _BlobJob:
    source: str  # path on the source datastore
    destination: str  # path on the destination datastore
    properties: Any  # the source blob's BlobProperties (size, etag, content settings, metadata)


def copy_data(
    source: DatastoreClient,
    source_path: str,
    destination: DatastoreClient,
    destination_path: str,
    kind: str,
) -> TransferResult:
    """Copy the file (`kind="file"`) or the tree below the folder (`kind="directory"`) at
    `source_path` to `destination_path`, replacing what was there.

    A file lands at exactly `destination_path`; a folder's files land below it with the same
    relative paths. See the module docstring for how each pair of datastores is copied.
    """
    if kind not in KINDS:
        raise ValueError(f"copy_data: kind must be 'file' or 'directory', got {kind!r}")
    source_path = clean_datastore_path(source_path)
    destination_path = clean_datastore_path(destination_path)
    if not destination_path:
        raise DatastoreError(
            f"datastore {destination.name!r}: a copy needs a destination path; the whole datastore "
            "is never replaced"
        )
    _refuse_overlap(source, source_path, destination, destination_path)
    if isinstance(source, BlobDatastore) and isinstance(destination, BlobDatastore):
        jobs = _blob_jobs(source, source_path, destination_path, kind)
        if source.same_account(destination):
            result = _server_side(source, destination, destination_path, jobs)
            if result is not None:
                return result
        return _streamed(source, destination, destination_path, jobs)
    source_local = source.local_path(source_path)
    destination_local = destination.local_path(destination_path)
    if isinstance(destination, BlobDatastore) and source_local is not None:
        return _upload(source, source_path, source_local, destination, destination_path, kind)
    if isinstance(source, BlobDatastore) and destination_local is not None:
        return _download(source, source_path, destination, destination_path, kind)
    if source_local is not None and destination_local is not None:
        return _local(source, source_path, source_local, destination, destination_path, kind)
    return _relayed(source, source_path, destination, destination_path, kind)


# ---------------------------------------------------------------------- checks


def _refuse_overlap(
    source: DatastoreClient, source_path: str, destination: DatastoreClient, destination_path: str
) -> None:
    """Same place, or one inside the other: replacing the destination would destroy the source."""
    a, b = source.uri(source_path).rstrip("/"), destination.uri(destination_path).rstrip("/")
    if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
        raise DatastoreError(
            f"cannot copy {a} to {b}: source and destination overlap (the destination is replaced)"
        )


def _no_source(source: DatastoreClient, path: str, kind: str, hint: str = "") -> DatastoreError:
    what = "no file" if kind == "file" else "no folder"
    return DatastoreError(f"datastore {source.name!r}: {what} at {path!r} to copy{hint}")


def _local_source(source: DatastoreClient, path: str, local: Path, kind: str) -> None:
    if kind == "file" and not local.is_file():
        hint = " (it is a folder: use reference type 'directory')" if local.is_dir() else ""
        raise _no_source(source, path, kind, hint)
    if kind == "directory" and not local.is_dir():
        hint = " (it is a file: use reference type 'file')" if local.is_file() else ""
        raise _no_source(source, path, kind, hint)


def _blob_jobs(source: BlobDatastore, source_path: str, destination_path: str, kind: str) -> list[_BlobJob]:
    """Every blob to copy with its properties, from one listing (or one look-up for a file)."""
    if kind == "file":
        properties = source.blob_properties(source_path)
        if properties is None:
            folder = source.is_directory(source_path)
            hint = " (it is a folder: use reference type 'directory')" if folder else ""
            raise _no_source(source, source_path, kind, hint)
        return [_BlobJob(source_path, destination_path, properties)]
    listing = source.list_blobs(source_path)
    if not listing:
        hint = " (it is a file: use reference type 'file')" if source.blob_properties(source_path) else ""
        raise _no_source(source, source_path, kind, hint)
    jobs = []
    for relative, properties in listing:
        path = join_datastore_path(source_path, relative)
        if source.blob_client(path).blob_name != properties.name:
            raise DatastoreError(
                f"datastore {source.name!r}: blob {properties.name!r} has a name that is not a plain "
                "path (empty or '.'/'..' segments) and cannot be copied"
            )
        jobs.append(_BlobJob(path, join_datastore_path(destination_path, relative), properties))
    return jobs


# ---------------------------------------------------------------------- Blob -> Blob


def _server_side(
    source: BlobDatastore, destination: BlobDatastore, destination_path: str, jobs: list[_BlobJob]
) -> TransferResult | None:
    """Copy Blob for each blob; None when the service cannot be given access to the source."""
    shared_key = destination.credential_kind == "shared_key"

    def source_url(path: str) -> str | None:
        url = str(source.blob_client(path).url)
        if shared_key or "sig=" in urlparse(url).query:
            return url  # same account: the destination's shared key authorizes the read
        sas = source.read_sas(path)
        return None if sas is None else f"{url}?{sas}"

    first_url = source_url(jobs[0].source)
    if first_url is None:
        log.info(
            "Copy to datastore %r: no SAS for the source (%s credential): streaming instead of a "
            "server-side copy",
            destination.name,
            source.credential_kind,
        )
        return None
    destination.delete(destination_path)
    try:
        _server_copy(source, destination, jobs[0], first_url)
    except _SourceRefused as refused:
        log.warning(
            "Copy to datastore %r: the service refused to read the source (%s): streaming instead",
            destination.name,
            refused,
        )
        return None

    streamed = []

    def copy(job: _BlobJob) -> None:
        url = source_url(job.source)
        if url is not None:
            try:
                _server_copy(source, destination, job, url)
                return
            except _SourceRefused as refused:
                log.warning("Copy of %s refused (%s): streaming it", source.uri(job.source), refused)
        streamed.append(job)  # e.g. a user delegation key refused since the first blob
        _stream_blob(source, destination, job)

    run_parallel(copy, jobs[1:], MAX_FILE_WORKERS, "transfer")
    method = f"{SERVER_SIDE}+{STREAMED}" if streamed else SERVER_SIDE
    return TransferResult(len(jobs), sum(int(j.properties.size) for j in jobs), method)


class _SourceRefused(Exception):
    """The service would not read a copy's source with the authorization it was given."""


def _server_copy(source: BlobDatastore, destination: BlobDatastore, job: _BlobJob, url: str) -> None:
    """Start one Copy Blob and wait until the service reports it succeeded."""
    from azure.core.exceptions import HttpResponseError

    client = destination.blob_client(job.destination)
    with _errors(source, job.source, destination, job.destination):
        try:
            started = _with_container(destination, lambda: client.start_copy_from_url(url))
        except HttpResponseError as exc:
            code = error_code(exc)
            if exc.status_code in (401, 403) or code in _SOURCE_REFUSED:
                raise _SourceRefused(describe_azure_error(exc)) from exc
            raise
        status, copy_id, delay = started.get("copy_status"), started.get("copy_id"), COPY_POLL_FIRST_S
        copy = None
        while status == "pending":
            time.sleep(delay)
            delay = min(delay * 2, COPY_POLL_MAX_S)
            copy = client.get_blob_properties().copy
            if copy_id and copy.id and copy.id != copy_id:
                raise DatastoreError("another copy to the same blob replaced this one")
            status = copy.status
    if status != "success":
        reason = getattr(copy, "status_description", None) or "no reason given"
        raise DatastoreError(
            f"copy of {source.uri(job.source)} to {destination.uri(job.destination)} ended "
            f"{status!r}: {reason}"
        )


def _streamed(
    source: BlobDatastore, destination: BlobDatastore, destination_path: str, jobs: list[_BlobJob]
) -> TransferResult:
    destination.delete(destination_path)
    run_parallel(lambda job: _stream_blob(source, destination, job), jobs, MAX_FILE_WORKERS, "transfer")
    return TransferResult(len(jobs), sum(int(j.properties.size) for j in jobs), STREAMED)


def _stream_blob(source: BlobDatastore, destination: BlobDatastore, job: _BlobJob) -> None:
    """One blob through the worker: one GET and one PUT, or ranged GETs staged as blocks."""
    from azure.core import MatchConditions
    from azure.storage.blob import BlobBlock

    properties = job.properties
    size = int(properties.size)
    reader = source.blob_client(job.source)
    writer = destination.blob_client(job.destination)
    unchanged = {"etag": properties.etag, "match_condition": MatchConditions.IfNotModified}
    settings = {"content_settings": properties.content_settings, "metadata": properties.metadata or {}}
    with _errors(source, job.source, destination, job.destination):
        if size <= BLOCK_SIZE:
            data = reader.download_blob(**unchanged).readall()
            _with_container(
                destination, lambda: writer.upload_blob(data, length=len(data), overwrite=True, **settings)
            )
            return
        count = -(-size // BLOCK_SIZE)
        ids = [base64.b64encode(f"mlpipe-{index:08d}".encode()).decode() for index in range(count)]

        def stage(index: int) -> None:
            offset = index * BLOCK_SIZE
            length = min(BLOCK_SIZE, size - offset)
            data = reader.download_blob(offset=offset, length=length, **unchanged).readall()
            writer.stage_block(ids[index], data, length=length)

        _with_container(destination, lambda: stage(0))
        run_parallel(stage, list(range(1, count)), MAX_BLOB_CONCURRENCY, "transfer")
        writer.commit_block_list([BlobBlock(block_id=i) for i in ids], **settings)


def _with_container(destination: BlobDatastore, call: Callable[[], T]) -> T:
    """Run a write; when the destination's container is missing, create it and run it again."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return call()
    except ResourceNotFoundError as exc:
        if error_code(exc) != "ContainerNotFound":
            raise
    destination.ensure_container()
    return call()


# ---------------------------------------------------------------------- local folders and Blob


def _upload(
    source: DatastoreClient,
    source_path: str,
    local: Path,
    destination: BlobDatastore,
    destination_path: str,
    kind: str,
) -> TransferResult:
    _local_source(source, source_path, local, kind)
    if kind == "file":
        destination.delete(destination_path)
        destination.upload_file(local, destination_path, overwrite=True)
        return TransferResult(1, local.stat().st_size, UPLOAD)
    relative_paths = source.list_files(source_path)  # a local datastore's staging folder is not data
    files = [local / relative for relative in relative_paths]
    jobs = [(f, join_datastore_path(destination_path, r)) for f, r in zip(files, relative_paths, strict=True)]
    destination.delete(destination_path)
    written = destination.upload_many(jobs, overwrite=True)
    return TransferResult(written, sum(f.stat().st_size for f in files), UPLOAD)


def _download(
    source: BlobDatastore,
    source_path: str,
    destination: DatastoreClient,
    destination_path: str,
    kind: str,
) -> TransferResult:
    jobs = _blob_jobs(source, source_path, destination_path, kind)
    size = sum(int(j.properties.size) for j in jobs)
    with _replacing(destination, destination_path) as target:
        if kind == "file":
            source.download_file(source_path, target)
        else:
            listing = [(_relative(j.source, source_path), j.properties) for j in jobs]
            source.download_directory(source_path, target, listing)
    return TransferResult(len(jobs), size, DOWNLOAD)


def _local(
    source: DatastoreClient,
    source_path: str,
    local: Path,
    destination: DatastoreClient,
    destination_path: str,
    kind: str,
) -> TransferResult:
    _local_source(source, source_path, local, kind)
    with _replacing(destination, destination_path) as target:
        if kind == "file":
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(local, target)
            return TransferResult(1, target.stat().st_size, LOCAL)
        # The source's own listing: a local datastore's staging folder is not data.
        relative_paths = source.list_files(source_path)
        target.mkdir(parents=True, exist_ok=True)
        size = 0
        for relative in relative_paths:
            copied = target / relative
            copied.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(local / relative, copied)
            size += copied.stat().st_size
    return TransferResult(len(relative_paths), size, LOCAL)


def _relayed(
    source: DatastoreClient,
    source_path: str,
    destination: DatastoreClient,
    destination_path: str,
    kind: str,
) -> TransferResult:
    """Other datastore kinds: download to a temporary folder, then publish from it."""
    if source.is_directory(source_path) != (kind == "directory") or not source.exists(source_path):
        raise _no_source(source, source_path, kind)
    from airflow_provider_mlpipe.runtime.workdir import attempt_folder

    with attempt_folder("transfer") as folder:
        local = source.download(source_path, folder / "data")
        files = [p for p in local.rglob("*") if p.is_file()] if local.is_dir() else [local]
        destination.publish(local, destination_path)
        return TransferResult(len(files), sum(p.stat().st_size for p in files), RELAYED)


@contextmanager
def _replacing(destination: DatastoreClient, path: str) -> Iterator[Path]:
    """A local path to write the copy at: a staging path swapped in at the end when the datastore
    offers one (a local folder datastore), else the destination itself after deleting it."""
    staged = getattr(destination, "staged", None)
    if staged is not None:
        with staged(path, action="copy") as staging:
            yield staging
        return
    target = destination.local_path(path)
    assert target is not None
    destination.delete(path)
    yield target


def _relative(path: str, folder: str) -> str:
    return path[len(folder) + 1 :] if folder else path


# ---------------------------------------------------------------------- helpers


def _errors(
    source: DatastoreClient, source_path: str, destination: DatastoreClient, destination_path: str
) -> AbstractContextManager[None]:
    """Azure errors as a DatastoreError naming both ends of the copy."""
    return azure_errors_as(f"could not copy {source.uri(source_path)} to {destination.uri(destination_path)}")


__all__ = ["KINDS", "TransferResult", "copy_data"]
