"""Blob clients from Airflow `wasb` connections, built by the Azure provider's WasbHook.

WasbHook owns the connection shapes and their auth (connection string, account key, shared
access key, SAS, service principal, managed and workload identity, DefaultAzureCredential) and
hands every other extra to `BlobServiceClient` (proxies, api_version, ...). `BlobDatastoreHook`
adds what a datastore needs on top: the transfer tuning of `blob_datastore.client_options()`,
a few shapes WasbHook reads differently from earlier mlpipe versions, and a `test_connection()`
that checks the datastore's container within a bounded time.

This module imports the Azure provider (and so the Azure SDK) at its top: it is imported only
when a task builds a Blob datastore or when Airflow asks for the `mlpipe_blob` hook, never while a DAG
file is parsed (`blob_datastore.py` is the light module DAG files may import).
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

from .blob_datastore import (
    DATASTORE_EXTRAS,
    LEGACY_EXTRA_PREFIX,
    BlobDatastore,
    client_options,
    connection_field,
    describe_azure_error,
)
from .datastore import DatastoreError
from .resolve import default_container

#: Seconds to open a connection, and to wait for an answer, when the UI's Test button asks.
TEST_CONNECT_TIMEOUT_S = 5.0
TEST_READ_TIMEOUT_S = 10.0
#: The whole test (credential, client, one request) gives up after this many seconds, DNS included.
TEST_DEADLINE_S = 30.0
#: Per-request options of the test's one request: short timeouts and no retries (the SDK's
#: default retries wait 15 s and more between attempts).
TEST_REQUEST_OPTIONS = {
    "connection_timeout": TEST_CONNECT_TIMEOUT_S,
    "read_timeout": TEST_READ_TIMEOUT_S,
    "retry_total": 0,
}
#: Hosts WasbHook would take for a name (no dot) although they are addresses.
_LOOPBACK_NAMES = {"localhost": "127.0.0.1"}


class ConnectionView:
    """The fields WasbHook reads from a connection (host, login, password, extra_dejson).

    `extra_dejson` is a fresh dict on every read: WasbHook pops from it.
    """

    def __init__(
        self, conn_type: str, host: str | None, login: str | None, password: str | None, extra: dict
    ):
        self.conn_type = conn_type
        self.host = host
        self.login = login
        self.password = password
        self._extra = extra

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return dict(self._extra)


def wasb_view(conn: Any) -> ConnectionView:
    """`conn` as WasbHook should see it to build a datastore's client.

    - legacy `extra__wasb__x` keys become `x` (WasbHook reads both for auth fields, but passes
      other extras, e.g. `extra__wasb__proxies`, to the client under their prefixed name);
    - `container` and `root` are ours, not client options: left out;
    - a SAS given as an `http://` URL (an emulator) is split into host and token: WasbHook
      takes only `https` URLs as URLs;
    - a `localhost` host becomes 127.0.0.1: WasbHook takes a host without a dot for a name;
    - the transfer tuning (`client_options()`) is added, under the connection's own options.
    """
    extra = dict(getattr(conn, "extra_dejson", None) or {})
    for key in [k for k in extra if k.startswith(LEGACY_EXTRA_PREFIX)]:
        value = extra.pop(key)
        short = key[len(LEGACY_EXTRA_PREFIX) :]
        if extra.get(short) in (None, ""):
            extra[short] = value
    for key in DATASTORE_EXTRAS:
        extra.pop(key, None)
    host = conn.host
    sas_token = extra.get("sas_token")
    if isinstance(sas_token, str) and sas_token.startswith("http://"):
        parts = urlsplit(sas_token)
        host, extra["sas_token"] = urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), parts.query
    return ConnectionView(
        conn_type=getattr(conn, "conn_type", None) or "wasb",
        host=_dotted_host(host),
        login=conn.login,
        password=conn.password,
        extra={**client_options(), **extra},
    )


def _dotted_host(host: str | None) -> str | None:
    """`host` with a loopback name replaced by its address (WasbHook keeps only dotted hosts)."""
    if not host:
        return host
    parts = urlsplit(host if "://" in host else f"https://{host}")
    name = parts.hostname or ""
    if name not in _LOOPBACK_NAMES:
        return host
    netloc = _LOOPBACK_NAMES[name] + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class BlobDatastoreHook(WasbHook):
    """The Azure provider's WasbHook, tuned for moving datastore files, with a datastore-aware test.

    Registered for mlpipe's own `mlpipe_blob` connection type (WasbHook's form plus `container`
    and `root`), so that type's Test button runs `test_connection()` below; it builds clients for
    `wasb` connections too. `connection` (optional) is a connection object to build from instead
    of looking `wasb_conn_id` up.
    """

    conn_type = "mlpipe_blob"
    hook_name = "mlpipe Azure Blob datastore"

    def __init__(
        self,
        wasb_conn_id: str = WasbHook.default_conn_name,
        public_read: bool = False,
        connection: Any = None,
    ) -> None:
        super().__init__(wasb_conn_id=wasb_conn_id, public_read=public_read)
        self._connection = connection

    def source_connection(self) -> Any:
        """The connection as stored (or as given), before `wasb_view`."""
        if self._connection is not None:
            return self._connection
        return WasbHook.get_connection(self.conn_id)

    # WasbHook.get_conn reads the connection through this: hand it the tuned, normalised view.
    def get_connection(self, conn_id: str) -> Any:  # type: ignore[override]
        if conn_id != self.conn_id:
            return WasbHook.get_connection(conn_id)
        return wasb_view(self.source_connection())

    def test_connection(self) -> tuple[bool, str]:
        """Whether the datastore's container can be listed, or why not, within TEST_DEADLINE_S.

        Without a container (none in the extra, no `[mlpipe] default_container`) the account is
        checked as WasbHook does, and the answer says what a datastore still needs.
        """
        outcome: list[tuple[bool, str]] = []

        def run() -> None:
            try:
                outcome.append(self._check())
            except Exception as exc:  # the Test button shows whatever went wrong, never a traceback
                outcome.append((False, f"{type(exc).__name__}: {describe_azure_error(exc)}"))

        # A thread bounds everything, including name resolution and credential discovery,
        # which the SDK's own timeouts do not cover.
        worker = threading.Thread(target=run, name="mlpipe-wasb-test", daemon=True)
        worker.start()
        worker.join(TEST_DEADLINE_S)
        if outcome:
            return outcome[0]
        return False, f"no answer from {self._where()} within {TEST_DEADLINE_S:.0f} s"

    def _where(self) -> str:
        try:
            conn = self.source_connection()
        except Exception:
            return f"connection {self.conn_id!r}"
        return conn.host or (f"account {conn.login!r}" if conn.login else "the storage account")

    def _check(self) -> tuple[bool, str]:
        from azure.core.exceptions import AzureError

        conn = self.source_connection()
        extra = dict(getattr(conn, "extra_dejson", None) or {})
        if not (connection_field(extra, "container") or default_container()):
            return self._check_account()
        try:
            datastore = BlobDatastore.from_connection(self.conn_id, conn)
        except DatastoreError as exc:
            return False, str(exc)
        where = f"container {datastore.container!r} on {datastore.account_url}"
        try:
            datastore.probe(**TEST_REQUEST_OPTIONS)
        except AzureError as exc:
            return False, _refusal(exc, datastore.container, datastore.account_url)
        root = f", root {datastore.root!r}" if datastore.root else ""
        return True, f"Connected: {where}{root} can be listed ({datastore.credential_kind} credential)."

    def _check_account(self) -> tuple[bool, str]:
        from azure.core.exceptions import AzureError

        try:
            client = self.get_conn()
        except (ValueError, TypeError) as exc:
            return False, f"cannot build a Blob client: {exc}"
        account_url = f"{client.scheme}://{client.primary_hostname}"
        try:
            client.get_account_information(**TEST_REQUEST_OPTIONS)
        except AzureError as exc:
            return False, _refusal(exc, None, account_url)
        return True, (
            f"Connected to {account_url}. To use this connection as an mlpipe datastore, add "
            '{"container": "<name>"} to its extra (or set [mlpipe] default_container).'
        )


def _refusal(exc: Exception, container: str | None, account_url: str) -> str:
    """Why the test's request failed, in the words a person fixing the connection needs."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    code = getattr(exc, "error_code", None)
    code = str(getattr(code, "value", code) or "")
    reason = describe_azure_error(exc)
    if code == "ContainerNotFound":
        return (
            f"container {container!r} does not exist on {account_url}: create it, or let mlpipe create "
            "it on its first write (the credential must be allowed to create containers)"
        )
    if isinstance(exc, ClientAuthenticationError) or (
        isinstance(exc, HttpResponseError) and exc.status_code in (401, 403)
    ):
        return f"{account_url} refused the credential: {reason}"
    if isinstance(exc, ServiceResponseError):
        return f"no answer from {account_url} within {TEST_READ_TIMEOUT_S:.0f} s: {reason}"
    if isinstance(exc, ServiceRequestError):
        return f"cannot reach {account_url}: {reason}"
    return f"{account_url}: {reason}"
