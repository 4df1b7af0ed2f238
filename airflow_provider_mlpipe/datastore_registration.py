"""v1's `Datastore.register_azure_blob_container` and `register_azure_data_lake_gen2`: they create or
update the Airflow connection a Blob datastore is read from (type `mlpipe_blob`).

The connection goes to this machine's metadata DB for the embedded local Airflow, and through the
API server's `/api/v2/connections` (under the user's own permissions) for a remote one. Creating
the container and validating the credential happen here, from this machine, before anything is
written. No key, SAS or client secret is ever logged, printed or put in an error message.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from airflow_provider_mlpipe.contract import CONNECTION_ID
from airflow_provider_mlpipe.exceptions import ApiError, DatastoreError
from airflow_provider_mlpipe.hooks.blob_datastore import CONTAINER_NAME
from airflow_provider_mlpipe.hooks.resolve import BLOB_CONN_TYPE

log = logging.getLogger(__name__)

#: v1's defaults: the protocol and the DNS suffix of the public Azure cloud.
DEFAULT_PROTOCOL = "https"
DEFAULT_ENDPOINT = "core.windows.net"
CONNECTIONS_API = "/api/v2/connections"
#: A SAS signature wherever it appears (a URL in an error, a log line).
_SIGNATURE = re.compile(r"(?i)(sig=)[^&\s'\"]+")


def account_url(account_name: str, protocol: str | None, endpoint: str | None) -> str:
    """The Blob endpoint of the account: `protocol://account.blob.endpoint`.

    `endpoint` is a DNS suffix, as in v1 (`core.windows.net`, `core.chinacloudapi.cn`...); an
    address (an IP or `localhost`, with a port: an emulator such as Azurite) gives the path-style
    `protocol://endpoint/account`; a whole URL (`http://azurite:10000/devstoreaccount1`) is used as is.
    """
    scheme = (protocol or DEFAULT_PROTOCOL).lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"protocol must be 'https' or 'http', got {protocol!r}")
    suffix = (endpoint or DEFAULT_ENDPOINT).strip().rstrip("/")
    if "://" in suffix:
        return suffix
    host = suffix.rsplit(":", 1)[0] if suffix.count(":") == 1 else suffix
    if host == "localhost" or _is_address(host.strip("[]")):
        return f"{scheme}://{suffix}/{account_name}"
    return f"{scheme}://{account_name}.blob.{suffix}"


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


#: v1's options that mean something only to an Azure ML workspace, and why they change nothing here.
_NO_EFFECT = {
    "grant_workspace_access": "tasks use the connection's own credential; no workspace identity exists",
    "blob_cache_timeout": "a step's mount reads the container as it is when the step starts",
}


def note_unused(name: str, **given: Any) -> None:
    """Log (once per call) each v1 option that was given but has no effect here, and why."""
    for option, value in given.items():
        if value:
            log.info("Datastore %r: %s=%r has no effect here (%s)", name, option, value, _NO_EFFECT[option])


def register_blob_container(
    workspace: Any,
    datastore_name: str,
    container_name: str,
    account_name: str,
    sas_token: str | None,
    account_key: str | None,
    protocol: str | None,
    endpoint: str | None,
    overwrite: bool,
    create_if_not_exists: bool,
    skip_validation: bool,
    labels: dict[str, Any],
) -> None:
    """Write the `mlpipe_blob` connection of a Blob container authenticated by SAS or account key
    (SAS wins when both are given, as in v1); neither: the identity where it is used."""
    sas = sas_token.lstrip("?") if sas_token else None
    extra: dict[str, Any] = {"container": container_name}
    if sas:
        extra["sas_token"] = sas
    fields = {
        "host": account_url(account_name, protocol, endpoint),
        "login": account_name,
        "password": None if sas else (account_key or None),
        "extra": extra,
    }
    _register(
        workspace,
        datastore_name,
        container_name,
        fields,
        overwrite,
        create_if_not_exists,
        skip_validation,
        "register_azure_blob_container",
        labels,
        [sas_token, account_key],
    )


def register_data_lake_gen2(
    workspace: Any,
    datastore_name: str,
    filesystem: str,
    account_name: str,
    tenant_id: str | None,
    client_id: str | None,
    client_secret: str | None,
    resource_url: str | None,
    authority_url: str | None,
    protocol: str | None,
    endpoint: str | None,
    overwrite: bool,
    labels: dict[str, Any],
) -> None:
    """Write the `mlpipe_blob` connection of an ADLS Gen2 filesystem, read through the account's
    Blob endpoint (a filesystem is a container there), with the service principal's credential."""
    given = [value for value in (tenant_id, client_id, client_secret) if value]
    if given and len(given) < 3:
        raise ValueError(
            f"datastore {datastore_name!r}: give tenant_id, client_id and client_secret together "
            "(or none of them: the identity where the datastore is used)"
        )
    extra: dict[str, Any] = {"container": filesystem}
    if tenant_id:
        extra["tenant_id"] = tenant_id
        if authority_url:
            extra["client_secret_auth_config"] = {"authority": authority_url}
    if resource_url:
        extra["audience"] = resource_url
    fields = {
        "host": account_url(account_name, protocol, endpoint),
        "login": client_id or None,
        "password": client_secret or None,
        "extra": extra,
    }
    # v1 validates a Gen2 registration and never creates its filesystem.
    _register(
        workspace,
        datastore_name,
        filesystem,
        fields,
        overwrite,
        False,
        False,
        "register_azure_data_lake_gen2",
        labels,
        [client_secret],
    )


def _register(
    workspace: Any,
    name: str,
    container: str,
    fields: dict[str, Any],
    overwrite: bool,
    create_if_not_exists: bool,
    skip_validation: bool,
    method: str,
    labels: dict[str, Any],
    secrets: list[str | None],
) -> None:
    if not isinstance(name, str) or not CONNECTION_ID.fullmatch(name):
        raise ValueError(
            f"Datastore.{method}: datastore_name {name!r} is not a valid Airflow connection id "
            "(letters, digits, '_', '.', '-')"
        )
    if not isinstance(container, str) or not CONTAINER_NAME.fullmatch(container):
        raise ValueError(
            f"Datastore.{method}: {container!r} is not a valid container name "
            "(3-63 lowercase letters, digits and single hyphens, starting and ending alphanumeric)"
        )
    noted = ", ".join(f"{key} {value!r}" for key, value in labels.items() if value)
    connection = {
        "conn_type": BLOB_CONN_TYPE,
        **fields,
        "description": f"mlpipe datastore (Datastore.{method})" + (f"; {noted}" if noted else ""),
    }
    with _secrets_kept_out([s for s in secrets if s]):
        _check_storage(name, connection, create_if_not_exists, not skip_validation)
        if workspace is None or getattr(workspace, "is_local", True):
            _write_local(name, connection, overwrite)
        else:
            _write_remote(workspace, name, connection, overwrite)
    log.info("Datastore %r: connection written (%s, container %r)", name, connection["host"], container)


def _check_storage(name: str, connection: dict[str, Any], create: bool, validate: bool) -> None:
    """Create the container (`create`), then check the credential can list it (`validate`)."""
    if not (create or validate):
        return
    from airflow_provider_mlpipe.hooks.blob_connection import BlobDatastoreHook, ConnectionView
    from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore

    view = ConnectionView(
        connection["conn_type"],
        connection["host"],
        connection["login"],
        connection["password"],
        connection["extra"],
    )
    if create:
        BlobDatastore.from_connection(name, view).ensure_container()
    if validate:
        ok, message = BlobDatastoreHook(wasb_conn_id=name, connection=view).test_connection()
        if not ok:
            raise DatastoreError(
                f"datastore {name!r} was not registered: {message} (create_if_not_exists=True creates a "
                "missing container; skip_validation=True registers without this check)"
            )


def _write_local(name: str, connection: dict[str, Any], overwrite: bool) -> None:
    """Create or update the connection row in this machine's metadata DB."""
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from airflow_provider_mlpipe.local_db import ensure_airflow_db

    ensure_airflow_db()
    values = {**connection, "extra": json.dumps(connection["extra"]), "schema": None, "port": None}
    try:
        with create_session() as session:
            existing = session.scalar(select(Connection).where(Connection.conn_id == name))
            if existing is not None:
                if not overwrite:
                    raise _exists(name, "this machine's metadata DB")
                # Replaced whole, in one transaction: a field no longer given (the key, when a SAS
                # replaces it) must not survive, and Connection's setters keep a password set to None.
                session.delete(existing)
                session.flush()
            session.add(Connection(conn_id=name, **values))
    except SQLAlchemyError as exc:
        raise DatastoreError(
            f"datastore {name!r}: could not write its connection to the metadata DB ({type(exc).__name__})"
        ) from None
    variable = f"AIRFLOW_CONN_{name.upper()}"
    if variable in os.environ:
        log.warning(
            "Datastore %r: the environment variable %s defines this connection too, and Airflow reads "
            "it before the metadata DB",
            name,
            variable,
        )


def _write_remote(workspace: Any, name: str, connection: dict[str, Any], overwrite: bool) -> None:
    """Create the connection through the API server (POST); replace it (PATCH) when `overwrite`."""
    body = {
        "connection_id": name,
        **connection,
        "extra": json.dumps(connection["extra"]),
        "schema": None,
        "port": None,
    }
    try:
        workspace.request("POST", CONNECTIONS_API, json=body)
        return
    except ApiError as exc:
        if exc.status_code != 409:
            raise _refused(name, workspace, exc) from None
    if not overwrite:
        raise _exists(name, f"the Airflow at {workspace.url}")
    path = f"{CONNECTIONS_API}/{quote(name, safe='')}"
    try:
        workspace.request("PATCH", path, json=body)
        if body["password"] is None and workspace.request("GET", path).json().get("password"):
            # Airflow's PATCH keeps a password it is asked to set to None (a key a SAS replaces):
            # the connection is replaced whole instead.
            workspace.request("DELETE", path)
            workspace.request("POST", CONNECTIONS_API, json=body)
    except ApiError as exc:
        raise _refused(name, workspace, exc) from None


def _exists(name: str, where: str) -> DatastoreError:
    return DatastoreError(
        f"datastore {name!r} already exists (an Airflow connection in {where}); pass overwrite=True "
        "to replace it"
    )


def _refused(name: str, workspace: Any, exc: ApiError) -> DatastoreError:
    # The server's detail may quote the request body (a validation error does): only its status.
    return DatastoreError(
        f"datastore {name!r}: the Airflow at {workspace.url} refused to write its connection "
        f"(HTTP {exc.status_code}; the user needs permission to edit connections)"
    )


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret (as given or URL-encoded) and every SAS signature replaced by ***."""
    for secret in secrets:
        for form in {secret, secret.lstrip("?"), quote(secret, safe=""), quote(secret)}:
            if form:
                text = text.replace(form, "***")
    return _SIGNATURE.sub(r"\1***", text)


class _ScrubbingFilter(logging.Filter):
    """Rewrites a log record's message without the secrets (urllib3 logs request URLs, SAS and all)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


#: Loggers that may write a request's URL or headers while the storage is checked.
_HTTP_LOGGERS = ("urllib3.connectionpool", "azure", "azure.core.pipeline.policies.http_logging_policy")


@contextmanager
def _secrets_kept_out(secrets: list[str]) -> Iterator[None]:
    """While registering: scrub the HTTP libraries' log records, and re-raise an error whose text (or
    a chained error's) shows a secret as a scrubbed DatastoreError."""
    scrubber = _ScrubbingFilter(secrets)
    loggers = [logging.getLogger(name) for name in _HTTP_LOGGERS]
    for logger in loggers:
        logger.addFilter(scrubber)
    try:
        yield
    except Exception as exc:
        chain: list[BaseException] = []
        current: BaseException | None = exc
        while current is not None and current not in chain:
            chain.append(current)
            current = current.__cause__ or current.__context__
        texts = [f"{error}" for error in chain]
        if all(scrub(text, secrets) == text for text in texts):
            raise
        raise DatastoreError(scrub(texts[0], secrets)) from None
    finally:
        for logger in loggers:
            logger.removeFilter(scrubber)
