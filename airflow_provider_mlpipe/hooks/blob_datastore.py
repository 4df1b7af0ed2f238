"""A datastore in an Azure Blob Storage container, built from an Airflow `wasb` connection.

The connection fields are the ones the Azure provider's WasbHook reads, so a connection that
works for WasbHook works here. Azure SDK imports happen inside functions: this module is
imported while DAG files are parsed and must stay light.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import urlparse

from .datastore import DatastoreClient, DatastoreError, clean_datastore_path, join_datastore_path

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.storage.blob import BlobProperties, BlobServiceClient, ContainerClient

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Files moved at once. The SDK's HTTP pool keeps 10 connections per host: more threads would
#: open and discard connections instead of reusing them.
MAX_FILE_WORKERS = 8
#: Parallel ranges per blob; the SDK only splits blobs above 32 MB (download) / 64 MB (upload).
MAX_BLOB_CONCURRENCY = 4
#: Prefix under which older Airflow versions stored custom connection fields.
LEGACY_EXTRA_PREFIX = "extra__wasb__"
#: Azure's container naming rule, checked up front because the service's own error is obscure.
CONTAINER_NAME = re.compile(r"\$root|\$web|(?!-)(?!.*--)[a-z0-9-]{3,63}(?<!-)")


def connection_field(extra: dict[str, Any], field: str) -> Any:
    """One extra field of a wasb connection, also under its legacy `extra__wasb__` name."""
    value = extra.get(field)
    if value in (None, ""):
        value = extra.get(f"{LEGACY_EXTRA_PREFIX}{field}")
    return value if value not in (None, "") else None


def account_url_from(host: str | None, login: str | None) -> str:
    """The account URL WasbHook would use: `host` (https:// added if bare) or one built from `login`."""
    url = host or f"https://{login}.blob.core.windows.net/"
    if "://" not in url:
        url = f"https://{url}"
    netloc = urlparse(url).netloc
    # WasbHook treats a dot-less host as a name only (e.g. a tenant id), not as an address.
    if "." not in netloc and not netloc.startswith("localhost") and login:
        url = f"https://{login}.blob.core.windows.net/"
    return url


def is_blob_folder_marker(blob: BlobProperties) -> bool:
    """True for blobs that stand for folders: ADLS Gen2 directories, or names ending in '/'."""
    metadata = blob.metadata or {}
    return blob.name.endswith("/") or str(metadata.get("hdi_isfolder", "")).lower() == "true"


class BlobDatastore(DatastoreClient):
    """Files under an optional `root` prefix of one blob container; paths are relative to `root`."""

    kind = "blob"

    def __init__(self, name: str, service_client: BlobServiceClient, container: str, root: str = "") -> None:
        super().__init__(name)
        if not CONTAINER_NAME.fullmatch(container or ""):
            raise DatastoreError(
                f"datastore {name!r}: {container!r} is not a valid container name "
                "(3-63 lowercase letters, digits and single hyphens, starting and ending alphanumeric)"
            )
        self.service_client = service_client
        self.container = container
        self.root = clean_datastore_path(root)
        self._container_client: ContainerClient = service_client.get_container_client(container)
        self._container_lock = threading.Lock()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_connection(cls, name: str, conn: Any) -> BlobDatastore:
        """Build from an Airflow `wasb` connection (same fields as WasbHook plus `container`, `root`)."""
        extra = dict(getattr(conn, "extra_dejson", None) or {})
        container = connection_field(extra, "container")
        if not container:
            raise DatastoreError(
                f"datastore {name!r}: the connection has no 'container' in its extra; "
                'add e.g. {"container": "mlpipe"}'
            )
        try:
            service_client = cls._service_client_from(conn, extra)
        except (ValueError, TypeError) as exc:
            raise DatastoreError(f"datastore {name!r}: cannot build a blob client: {exc}") from exc
        return cls(name, service_client, container, root=connection_field(extra, "root") or "")

    @staticmethod
    def _service_client_from(conn: Any, extra: dict[str, Any]) -> BlobServiceClient:
        """Pick the auth style in WasbHook.get_conn's order and build the service client."""
        from azure.storage.blob import BlobServiceClient

        options: dict[str, Any] = {}
        api_version = connection_field(extra, "api_version")
        if api_version:
            options["api_version"] = api_version

        connection_string = connection_field(extra, "connection_string")
        if connection_string:
            return BlobServiceClient.from_connection_string(connection_string, **options)

        account_url = account_url_from(conn.host, conn.login)
        sas_token = connection_field(extra, "sas_token")
        if connection_field(extra, "tenant_id"):
            credential: Any = _client_secret_credential(conn, extra)
        elif connection_field(extra, "shared_access_key"):
            credential = connection_field(extra, "shared_access_key")
        elif sas_token:
            return BlobServiceClient(account_url=_sas_account_url(account_url, sas_token), **options)
        else:
            credential = conn.password or connection_field(extra, "account_key") or _default_credential(extra)
        return BlobServiceClient(account_url=account_url, credential=credential, **options)

    # ------------------------------------------------------------------ paths

    def _blob_name(self, path: str) -> str:
        """Full blob name for `path` below the root; refuses paths that leave the datastore."""
        try:
            return join_datastore_path(self.root, clean_datastore_path(path))
        except DatastoreError as exc:
            raise DatastoreError(f"datastore {self.name!r}: {exc}") from None

    @staticmethod
    def _prefix(blob_name: str) -> str:
        return f"{blob_name}/" if blob_name else ""

    def uri(self, path: str) -> str:
        """https URL of the blob or folder (never includes a SAS token)."""
        client = self.service_client
        base = f"{client.scheme}://{client.primary_hostname}/{self.container}"
        blob_name = self._blob_name(path)
        return f"{base}/{blob_name}" if blob_name else base

    def spark_uri(self, path: str) -> str:
        """wasbs://<container>@<account host>/<blob>: how Spark's Azure Blob connector names it."""
        return f"wasbs://{self.container}@{self.service_client.primary_hostname}/{self._blob_name(path)}"

    # ------------------------------------------------------------------ reading

    def _list_all(self, blob_name: str) -> list[BlobProperties]:
        """Every blob below the folder `blob_name`, folder markers included (no container: none)."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._errors("list", blob_name):
            try:
                blobs = self._container_client.list_blobs(
                    name_starts_with=self._prefix(blob_name), include=["metadata"]
                )
                return list(blobs)
            except ResourceNotFoundError:
                return []

    def _list(self, blob_name: str) -> list[BlobProperties]:
        """Every file blob below the folder `blob_name`, in one listing."""
        return [b for b in self._list_all(blob_name) if not is_blob_folder_marker(b)]

    def _is_file(self, blob_name: str) -> bool:
        if not blob_name:
            return False
        with self._errors("look up", blob_name):
            return bool(self._container_client.get_blob_client(blob_name).exists())

    def _has_children(self, blob_name: str) -> bool:
        """True when at least one blob lies below `blob_name/` (pages of one, stops at the first)."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._errors("list", blob_name):
            try:
                blobs = self._container_client.list_blobs(
                    name_starts_with=self._prefix(blob_name), results_per_page=1
                )
                return next(iter(blobs), None) is not None
            except ResourceNotFoundError:
                return False

    def exists(self, path: str) -> bool:
        """True when `path` is a blob or a folder holding at least one blob."""
        blob_name = self._blob_name(path)
        return self._is_file(blob_name) or self._has_children(blob_name)

    def is_directory(self, path: str) -> bool:
        """True when blobs lie below `path/`."""
        return self._has_children(self._blob_name(path))

    def list_files(self, path: str) -> list[str]:
        """Sorted paths, relative to `path`, of every blob below the folder `path`."""
        prefix = self._prefix(self._blob_name(path))
        return sorted(b.name[len(prefix) :] for b in self._list(prefix.rstrip("/")))

    def content_identity(self, path: str) -> list[tuple[str, str]]:
        """Name, etag and size of the blob at `path` or of every blob below it, from ONE listing."""
        from azure.core.exceptions import ResourceNotFoundError

        blob_name = self._blob_name(path)
        folder = self._prefix(blob_name)
        found = []
        with self._errors("list", blob_name):
            try:
                for blob in self._container_client.list_blobs(name_starts_with=blob_name):
                    if blob.name == blob_name:
                        found.append(("", blob))
                    elif blob.name.startswith(folder) and not is_blob_folder_marker(blob):
                        found.append((blob.name[len(folder) :], blob))
            except ResourceNotFoundError:
                return []
        return sorted((relative, f"{blob.size}:{blob.etag}") for relative, blob in found)

    def read_bytes(self, path: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        blob_name = self._blob_name(path)
        with self._errors("read", blob_name):
            try:
                return self._container_client.get_blob_client(blob_name).download_blob().readall()
            except ResourceNotFoundError:
                return None

    def create_only(self, path: str, data: bytes) -> bool:
        """One PUT with If-None-Match: * (overwrite=False); the loser of a race gets 409 -> False."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        blob_client = self._container_client.get_blob_client(self._blob_name(path))
        with self._errors("create", blob_client.blob_name):
            for attempt in range(2):
                try:
                    blob_client.upload_blob(data, overwrite=False)
                    return True
                except ResourceExistsError:
                    return False
                except ResourceNotFoundError as exc:
                    if attempt or getattr(exc, "error_code", None) != "ContainerNotFound":
                        raise
                    self._create_container()
        return False

    def download(self, path: str, local_path: Path) -> Path:
        """Copy a blob to the file `local_path`, or a folder to the tree under `local_path`."""
        blob_name = self._blob_name(path)
        local_path = Path(local_path)
        blobs = self._list(blob_name)
        if blobs:
            prefix = self._prefix(blob_name)
            jobs = [(b.name, local_path / self._relative_local(b.name[len(prefix) :])) for b in blobs]
            local_path.mkdir(parents=True, exist_ok=True)
            self._run_parallel(self._download_listed, jobs)
        elif not self._download_blob(blob_name, local_path):
            raise DatastoreError(f"datastore {self.name!r}: nothing at {path!r}")
        return local_path

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
        if not blob_name:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        try:
            with self._errors("download", blob_name):
                found = self._stream_blob(blob_name, partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if not found:
            partial.unlink(missing_ok=True)
            return False
        os.replace(partial, target)
        return True

    def _stream_blob(self, blob_name: str, target: Path) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with target.open("wb") as handle:
                downloader = self._container_client.get_blob_client(blob_name).download_blob(
                    max_concurrency=MAX_BLOB_CONCURRENCY
                )
                downloader.readinto(handle)
        except ResourceNotFoundError:
            return False
        return True

    # ------------------------------------------------------------------ writing

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

    def _create_container(self) -> None:
        """Create the container (first write to a new datastore); losing a creation race is fine."""
        from azure.core.exceptions import ResourceExistsError

        with self._container_lock, self._errors("create container", ""):
            try:
                self._container_client.create_container()
                log.info("Datastore %r: created container %r", self.name, self.container)
            except ResourceExistsError:
                pass

    def delete(self, path: str) -> None:
        """Remove the blob at `path` and every blob below `path/`; nothing there is fine."""
        blob_name = self._blob_name(path)
        if blob_name == self.root:
            raise DatastoreError(f"datastore {self.name!r}: refusing to delete the whole datastore")
        blobs = self._list_all(blob_name)
        files = [b.name for b in blobs if not is_blob_folder_marker(b)]
        # Folder markers (hierarchical namespace) go last, deepest first, once they are empty.
        markers = sorted((b.name for b in blobs if is_blob_folder_marker(b)), reverse=True)
        self._run_parallel(self._delete_blob, [blob_name, *files])
        for marker in markers:
            self._delete_blob(marker)

    def _delete_blob(self, blob_name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with self._errors("delete", blob_name):
            try:
                self._container_client.delete_blob(blob_name, delete_snapshots="include")
            except ResourceNotFoundError:
                pass

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _run_parallel(work: Callable[[Any], T], jobs: list[Any]) -> list[T]:
        """Run `work` over `jobs` on a thread pool (inline for one job); the first error cancels the rest."""
        if len(jobs) <= 1:
            return [work(job) for job in jobs]
        pool = ThreadPoolExecutor(max_workers=min(MAX_FILE_WORKERS, len(jobs)), thread_name_prefix="blob")
        try:
            return list(pool.map(work, jobs))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @contextmanager
    def _errors(self, action: str, blob_name: str) -> Iterator[None]:
        """Turn Azure errors the caller did not handle into a DatastoreError naming datastore and path."""
        from azure.core.exceptions import AzureError

        try:
            yield
        except AzureError as exc:
            where = f"{self.container}/{blob_name}".rstrip("/")
            raise DatastoreError(
                f"datastore {self.name!r}: could not {action} {where!r}: {_describe(exc)}"
            ) from exc


def _describe(exc: Exception) -> str:
    """A one-line reason from an Azure error (error code and the first line of the message)."""
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)  # the SDK sometimes gives a StorageErrorCode enum
    message = str(getattr(exc, "message", None) or exc).strip().splitlines()
    text = message[0] if message else type(exc).__name__
    return f"{code}: {text}" if code and str(code) not in text else text


def _sas_account_url(account_url: str, sas_token: str) -> str:
    """Account URL carrying the SAS: the token itself when it is a URL, else appended as a query."""
    if sas_token.startswith(("https://", "http://")):
        return sas_token
    return f"{account_url.rstrip('/')}/?{sas_token.lstrip('?')}"


def _client_secret_credential(conn: Any, extra: dict[str, Any]) -> TokenCredential:
    """Service principal: client id in login, secret in password, tenant in extra (as WasbHook)."""
    from azure.identity import ClientSecretCredential

    options = dict(extra.get("client_secret_auth_config") or {})
    return ClientSecretCredential(
        tenant_id=connection_field(extra, "tenant_id"),
        client_id=conn.login,
        client_secret=conn.password,
        **options,
    )


def _default_credential(extra: dict[str, Any]) -> TokenCredential:
    """DefaultAzureCredential, pinned to a managed/workload identity when both ids are given."""
    from azure.identity import DefaultAzureCredential

    client_id = connection_field(extra, "managed_identity_client_id")
    tenant_id = connection_field(extra, "workload_identity_tenant_id")
    if client_id and tenant_id:
        return DefaultAzureCredential(
            managed_identity_client_id=client_id,
            workload_identity_tenant_id=tenant_id,
            additionally_allowed_tenants=[tenant_id],
        )
    return DefaultAzureCredential()
