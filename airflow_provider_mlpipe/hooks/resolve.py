"""Find the datastore behind a name when a task (or a notebook) needs it."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from airflow_provider_mlpipe.contract import DEFAULT_DATASTORE_VARIABLE
from airflow_provider_mlpipe.hooks.datastore import DatastoreClient, DatastoreError

log = logging.getLogger(__name__)

#: Connection id of the default datastore when `[mlpipe] default_datastore` is not set.
EMBEDDED_DEFAULT_NAME = "mlpipe_default"
LOCAL_CONN_TYPE = "mlpipe_local"
#: Connection types read as Blob datastores: mlpipe's own (its form asks for the container) and the
#: Azure provider's (existing connections work as they are).
BLOB_CONN_TYPE = "mlpipe_blob"
BLOB_CONN_TYPES = (BLOB_CONN_TYPE, "wasb", "wasbs")


def default_datastore_name() -> str:
    """The Variable `mlpipe_default_datastore` (`Workspace.set_default_datastore`), else
    `[mlpipe] default_datastore`, else `mlpipe_default` (read now, never frozen at import)."""
    from airflow_provider_mlpipe import settings

    return chosen_default_datastore() or settings.default_datastore() or EMBEDDED_DEFAULT_NAME


def chosen_default_datastore() -> str | None:
    """The Variable `Workspace.set_default_datastore` sets: through the task's supervisor in a
    task, from the secrets backends and then the metadata DB elsewhere (a notebook, the api-server)."""
    from airflow.sdk import Variable
    from airflow.sdk.execution_time import task_runner

    value = Variable.get(DEFAULT_DATASTORE_VARIABLE, default=None)
    if value is None and getattr(task_runner, "SUPERVISOR_COMMS", None) is None:
        from airflow.models import Variable as StoredVariable
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            value = StoredVariable.get(DEFAULT_DATASTORE_VARIABLE, default_var=None)
        except (OperationalError, ProgrammingError):  # no metadata DB here (yet): nothing was chosen
            value = None
    return value or None


def default_container() -> str:
    """`[mlpipe] default_container`: the container of a wasb datastore whose extra names none ("": none)."""
    from airflow_provider_mlpipe import settings

    return settings.default_container()


def embedded_root() -> Path:
    """Folder of the embedded default datastore: `[mlpipe] embedded_root`, else under AIRFLOW_HOME."""
    from airflow_provider_mlpipe import settings

    return settings.embedded_root()


def metadata_db_connection(conn_id: str) -> Any:
    """Connection `conn_id` from this machine's metadata DB, for a notebook or a script; None
    when there is none, or inside a task or a triggerer.

    Outside a task, Airflow's SDK looks connections up in environment variables and secrets
    backends only, so one created in the UI or by `Datastore.register_*` would be missed. Tasks
    and triggerers read them through Airflow's API and never reach the DB from here.
    """
    from airflow.sdk.execution_time import task_runner

    if getattr(task_runner, "SUPERVISOR_COMMS", None) is not None:
        return None
    if os.environ.get("_AIRFLOW_PROCESS_CONTEXT") == "client":
        return None
    try:
        from airflow.models import Connection as StoredConnection
        from airflow.sdk import Connection
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.scalar(select(StoredConnection).where(StoredConnection.conn_id == conn_id))
            if row is None:
                return None
            return Connection(
                conn_id=conn_id,
                conn_type=row.conn_type,
                host=row.host,
                login=row.login,
                password=row.password,
                schema=row.schema,
                port=row.port,
                extra=row.extra,
            )
    except Exception as exc:  # no DB here (a worker without one): only the SDK's lookup counts
        log.debug("Connection %r: the metadata DB could not be read (%s)", conn_id, type(exc).__name__)
        return None


def resolve_datastore(name: str | None) -> DatastoreClient:
    """The client for datastore `name` (None = the default), built from its Airflow connection.

    With no connection named `mlpipe_default`, that name is the embedded local folder.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = name or default_datastore_name()
    try:
        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            conn = metadata_db_connection(conn_id)
            if conn is None:
                raise
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
