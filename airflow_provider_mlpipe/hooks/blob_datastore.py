"""A datastore in an Azure Blob Storage container, built from an Airflow `wasb` connection.

The client comes from the Azure provider's WasbHook (see `blob_connection.py`), so every
connection shape and auth mode WasbHook supports works here; the connection adds `container`
(or `[mlpipe] default_container`) and an optional `root` prefix. Azure SDK imports happen inside
functions: this module is imported while DAG files are parsed and must stay light.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_mlpipe.exceptions import DatastoreError
from airflow_provider_mlpipe.hooks.azure_errors import azure_errors_as, describe_azure_error, run_parallel
from airflow_provider_mlpipe.hooks.blob_files import BlobFiles, is_blob_folder_marker
from airflow_provider_mlpipe.hooks.blob_session import (
    BLOCK_SIZE,
    MAX_BLOB_CONCURRENCY,
    MAX_FILE_WORKERS,
    POOL_SIZE,
    SINGLE_PUT_MAX,
    client_options,
    shared_session,
)
from airflow_provider_mlpipe.hooks.blob_signing import COPY_SAS_HOURS, BlobSigning
from airflow_provider_mlpipe.hooks.datastore import (
    DatastoreClient,
    clean_datastore_path,
    join_datastore_path,
    name_prefix,
)

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, BlobProperties, BlobServiceClient, ContainerClient

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Re-exported: the transfer settings and SAS lifetime are part of what this datastore is.
__all__ = [
    "BLOCK_SIZE",
    "COPY_SAS_HOURS",
    "MAX_BLOB_CONCURRENCY",
    "MAX_FILE_WORKERS",
    "POOL_SIZE",
    "SINGLE_PUT_MAX",
    "BlobDatastore",
    "client_options",
    "connection_field",
    "describe_azure_error",
    "is_blob_folder_marker",
    "shared_session",
]
#: Prefix under which older Airflow versions stored custom connection fields.
LEGACY_EXTRA_PREFIX = "extra__wasb__"
#: Extras of a wasb connection that describe the datastore (not options of the Blob client).
DATASTORE_EXTRAS = ("container", "root")
#: Azure's container naming rule, checked up front because the service's own error is obscure.
CONTAINER_NAME = re.compile(r"\$root|\$web|(?!-)(?!.*--)[a-z0-9-]{3,63}(?<!-)")


def connection_field(extra: dict[str, Any], field: str) -> Any:
    """One extra field of a wasb connection, also under its legacy `extra__wasb__` name."""
    value = extra.get(field)
    if value in (None, ""):
        value = extra.get(f"{LEGACY_EXTRA_PREFIX}{field}")
    return value if value not in (None, "") else None


class BlobDatastore(BlobSigning, BlobFiles, DatastoreClient):
    """Files under an optional `root` prefix of one blob container; paths are relative to `root`."""

    kind = "blob"

    def __init__(self, name: str, service_client: BlobServiceClient, container: str, root: str = "") -> None:
        super().__init__(name)
        if not CONTAINER_NAME.fullmatch(container or ""):
            raise DatastoreError(f"datastore {name!r}: {_bad_container(container)}")
        self.service_client = service_client
        self.container = container
        self.root = clean_datastore_path(root)
        self._container_client: ContainerClient = service_client.get_container_client(container)
        self._container_lock = threading.Lock()
        self._delegation_lock = threading.Lock()
        #: (valid until, user delegation key or None when refused), for SAS of server-side copies.
        self._delegation: tuple[Any, Any] | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_connection(cls, name: str, conn: Any) -> BlobDatastore:
        """Build from an Airflow `wasb` connection: WasbHook's fields plus `container` and `root`.

        The container is the extra's `container`, else `[mlpipe] default_container`.
        """
        from .resolve import default_container

        extra = dict(getattr(conn, "extra_dejson", None) or {})
        container = connection_field(extra, "container") or default_container()
        if not container:
            raise DatastoreError(
                f"datastore {name!r}: the wasb connection has no 'container' in its extra: add "
                '{"container": "<name>"} to the extra (the container mlpipe stores files in), or set a '
                "default container with the option [mlpipe] default_container "
                "(AIRFLOW__MLPIPE__DEFAULT_CONTAINER)"
            )
        if not CONTAINER_NAME.fullmatch(container):
            raise DatastoreError(f"datastore {name!r}: {_bad_container(container)}")
        from .blob_connection import BlobDatastoreHook

        try:
            service_client = BlobDatastoreHook(wasb_conn_id=name, connection=conn).get_conn()
        except (ValueError, TypeError) as exc:
            raise DatastoreError(f"datastore {name!r}: cannot build a blob client: {exc}") from exc
        return cls(name, service_client, container, root=connection_field(extra, "root") or "")

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

    # ------------------------------------------------------------------ the account and its blobs

    @property
    def account_name(self) -> str:
        """The storage account's name (e.g. `devstoreaccount1` on Azurite)."""
        return str(self.service_client.account_name)

    @property
    def account_url(self) -> str:
        """`scheme://host[:port][/account]` of the storage account, never with a SAS: where the data is."""
        client = self.service_client
        return f"{client.scheme}://{client.primary_hostname}".rstrip("/").lower()

    def same_account(self, other: DatastoreClient) -> bool:
        """True when `other` is a Blob datastore on this storage account (same endpoint, same name).

        Two containers, or two connections with different credentials, can share an account;
        two Azurite instances on different ports are different accounts.
        """
        return (
            isinstance(other, BlobDatastore)
            and other.account_url == self.account_url
            and other.account_name == self.account_name
        )

    def blob_client(self, path: str) -> BlobClient:
        """The SDK client of the blob at `path` below the root; it shares this datastore's pipeline."""
        return self._container_client.get_blob_client(self._blob_name(path))

    def blob_properties(self, path: str) -> BlobProperties | None:
        """Properties of the blob exactly at `path` (a folder of that name is not looked at), or None."""
        from azure.core.exceptions import ResourceNotFoundError

        blob_name = self._blob_name(path)
        if not blob_name:
            return None
        with self._errors("look up", blob_name):
            try:
                return self._container_client.get_blob_client(blob_name).get_blob_properties()
            except ResourceNotFoundError:
                return None

    def list_blobs(self, path: str) -> list[tuple[str, BlobProperties]]:
        """(path relative to `path`, properties) of every file blob below the folder `path`, sorted.

        One listing: the properties carry size, etag, content settings and metadata.
        """
        blob_name = self._blob_name(path)
        prefix = self._prefix(blob_name)
        found = [(b.name[len(prefix) :], b) for b in self._list(blob_name)]
        return sorted(found, key=lambda item: item[0])

    def probe(self, **request_options: Any) -> None:
        """List at most one blob below the root: the host answers, the credential is accepted and
        the container exists, or the Azure error says which not. `request_options` go to the request
        (e.g. connection_timeout, read_timeout, retry_total)."""
        prefix = self._prefix(self.root)
        pages = self._container_client.list_blobs(
            name_starts_with=prefix or None, results_per_page=1, **request_options
        ).by_page()
        next(pages, None)

    def ensure_container(self) -> None:
        """Create the container if it is missing (a lost creation race is fine)."""
        self._create_container()

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

    def _is_content_blob(self, blob_name: str) -> bool:
        """True when a non-empty, non-marker blob is named exactly `blob_name` (a file, see `download`)."""
        from azure.core.exceptions import ResourceNotFoundError

        if not blob_name:
            return False
        with self._errors("look up", blob_name):
            try:
                properties = self._container_client.get_blob_client(blob_name).get_blob_properties()
            except ResourceNotFoundError:
                return False
        return self._is_content(properties)

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
        """True when blobs lie below `path/` and `path` itself is no file (see `download`)."""
        blob_name = self._blob_name(path)
        return self._has_children(blob_name) and not self._is_content_blob(blob_name)

    def list_files(self, path: str) -> list[str]:
        """Sorted paths, relative to `path`, of every blob below the folder `path`."""
        prefix = self._prefix(self._blob_name(path))
        return sorted(b.name[len(prefix) :] for b in self._list(prefix.rstrip("/")))

    def list_prefixed(self, prefix: str) -> list[str]:
        """Sorted paths of every file blob whose path starts with `prefix`, in one listing that
        asks the service for that name prefix (not the whole folder above it)."""
        from azure.core.exceptions import ResourceNotFoundError

        _folder, wanted = name_prefix(prefix)
        base = self._prefix(self.root)
        with self._errors("list", wanted):
            try:
                blobs = list(
                    self._container_client.list_blobs(name_starts_with=base + wanted, include=["metadata"])
                )
            except ResourceNotFoundError:
                return []
        return sorted(b.name[len(base) :] for b in blobs if not is_blob_folder_marker(b))

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

    def read_versioned(self, path: str) -> tuple[bytes, str] | None:
        """The blob's content and the etag of that very content (one GET)."""
        from azure.core.exceptions import ResourceNotFoundError

        blob_name = self._blob_name(path)
        with self._errors("read", blob_name):
            try:
                downloader = self._container_client.get_blob_client(blob_name).download_blob()
                return downloader.readall(), downloader.properties.etag
            except ResourceNotFoundError:
                return None

    def replace_if_unchanged(self, path: str, data: bytes, version: str) -> bool:
        """One PUT with If-Match: <etag>; a writer that lost the race gets 412 -> False. A blob removed
        meanwhile is created again, create-only."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        blob_client = self._container_client.get_blob_client(self._blob_name(path))
        with self._errors("replace", blob_client.blob_name):
            try:
                blob_client.upload_blob(
                    data, overwrite=True, etag=version, match_condition=MatchConditions.IfNotModified
                )
                return True
            except (ResourceModifiedError, ResourceNotFoundError):
                pass
        return self.blob_properties(path) is None and self.create_only(path, data)

    # ------------------------------------------------------------------ writing

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
        """`work` over `jobs`, MAX_FILE_WORKERS at a time; the first error cancels the rest."""
        return run_parallel(work, jobs, MAX_FILE_WORKERS, "blob")

    def _errors(self, action: str, blob_name: str) -> AbstractContextManager[None]:
        """Azure errors the caller did not handle, as a DatastoreError naming datastore and path."""
        where = f"{self.container}/{blob_name}".rstrip("/")
        return azure_errors_as(f"datastore {self.name!r}: could not {action} {where!r}")


def _bad_container(container: str) -> str:
    return (
        f"{container!r} is not a valid container name "
        "(3-63 lowercase letters, digits and single hyphens, starting and ending alphanumeric)"
    )
