"""Find the datastore behind a name when a task (or a notebook) needs it."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_mlpipe.hooks.datastore import DatastoreClient, DatastoreError

#: Connection id of the default datastore when `[mlpipe] default_datastore` is not set.
EMBEDDED_DEFAULT_NAME = "mlpipe_default"
LOCAL_CONN_TYPE = "mlpipe_local"
#: Connection types read as Blob datastores: mlpipe's own (its form asks for the container) and the
#: Azure provider's (existing connections work as they are).
BLOB_CONN_TYPE = "mlpipe_blob"
BLOB_CONN_TYPES = (BLOB_CONN_TYPE, "wasb", "wasbs")


def default_datastore_name() -> str:
    """`[mlpipe] default_datastore`, else `mlpipe_default` (read now, never frozen at import)."""
    from airflow_provider_mlpipe import settings

    return settings.default_datastore() or EMBEDDED_DEFAULT_NAME


def default_container() -> str:
    """`[mlpipe] default_container`: the container of a wasb datastore whose extra names none ("": none)."""
    from airflow_provider_mlpipe import settings

    return settings.default_container()


def embedded_root() -> Path:
    """Folder of the embedded default datastore: `[mlpipe] embedded_root`, else under AIRFLOW_HOME."""
    from airflow_provider_mlpipe import settings

    return settings.embedded_root()


def resolve_datastore(name: str | None) -> DatastoreClient:
    """The client for datastore `name` (None = the default), built from its Airflow connection.

    With no connection named `mlpipe_default`, that name is the embedded local folder.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = name or default_datastore_name()
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if conn_id == EMBEDDED_DEFAULT_NAME:
            from airflow_provider_mlpipe.hooks.local_folder import LocalFolderDatastore

            return LocalFolderDatastore(conn_id, embedded_root())
        raise DatastoreError(
            f"datastore {conn_id!r}: no Airflow connection with that id (create one of type "
            f"{LOCAL_CONN_TYPE!r}, {BLOB_CONN_TYPE!r} or 'wasb')"
        ) from None
    if conn.conn_type == LOCAL_CONN_TYPE:
        from airflow_provider_mlpipe.hooks.local_folder import LocalFolderDatastore

        return LocalFolderDatastore.from_connection(conn_id, conn)
    if conn.conn_type in BLOB_CONN_TYPES:
        from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore

        return BlobDatastore.from_connection(conn_id, conn)
    raise DatastoreError(
        f"datastore {conn_id!r}: connection type {conn.conn_type!r} is not a datastore "
        f"(use {LOCAL_CONN_TYPE!r}, {BLOB_CONN_TYPE!r} or 'wasb')"
    )
