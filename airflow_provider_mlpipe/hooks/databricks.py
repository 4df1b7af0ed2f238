"""`DatabricksHook`: a databricks-sdk `WorkspaceClient` from an Airflow connection.

Reads connections of the Databricks provider's `databricks` type with its fields: host,
a personal access token in the password (or extra `token`), or an Azure service principal
(login = client id, password = secret, extra `azure_tenant_id`), or, with no secret,
azure-identity's DefaultAzureCredential.

Every call, from building the client to its last retry, ends within the connection's
`retry_timeout_seconds` (extra; default 45), each HTTP request within its `http_timeout_seconds`
(default 15): a workspace that is down or never answers fails the task in under a minute with
an error naming the host, instead of holding a worker for minutes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_mlpipe.exceptions import DatabricksUnreachableError
from airflow_provider_mlpipe.extras import require_extra

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

#: Azure Databricks' application id: the scope of an Entra ID token for a workspace.
AZURE_DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"
DBFS_BLOCK = 1024 * 1024
TERMINAL_STATES = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
#: Default bounds (seconds) of one call and of one HTTP request; connection extras by these names win.
DEFAULT_RETRY_TIMEOUT_SECONDS = 45.0
DEFAULT_HTTP_TIMEOUT_SECONDS = 15.0
#: databricks-sdk sleeps up to this long between two tries (min(10, try) + random()): a retry
#: loop can overrun its own timeout by the longer of this and one request.
SDK_RETRY_SLEEP_MAX_SECONDS = 11.0


class DatabricksHook(BaseHook):
    """Submit, watch and cancel one-time Databricks runs for pipeline steps."""

    conn_name_attr = "databricks_conn_id"
    default_conn_name = "databricks_default"
    hook_name = "mlpipe Databricks workspace"

    def __init__(
        self,
        databricks_conn_id: str = default_conn_name,
        retry_timeout_seconds: float | None = None,
        http_timeout_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        """Timeouts given here win over the connection's extras, which win over the defaults."""
        super().__init__(**kwargs)
        self.databricks_conn_id = databricks_conn_id
        self.retry_timeout_seconds = retry_timeout_seconds
        self.http_timeout_seconds = http_timeout_seconds
        self._client: WorkspaceClient | None = None
        self._host: str | None = None
        self._bounds: tuple[float, float] | None = None

    def config_options(self) -> dict[str, Any]:
        """`databricks.sdk.config.Config` options for this connection, with auth_type set explicitly."""
        conn = self.get_connection(self.databricks_conn_id)
        extra = conn.extra_dejson or {}
        host = (conn.host or extra.get("host") or "").rstrip("/")
        if not host:
            raise ValueError(f"Databricks connection {self.databricks_conn_id!r} has no host")
        if "://" not in host:
            host = f"https://{host}"
        call_bound, request_bound = self._timeouts(extra)
        self._host, self._bounds = host, (call_bound, request_bound)
        # The SDK's retry loop may start one last request, or sleep once, after its own timeout:
        # leave room for that, so the whole call ends within call_bound.
        overrun = max(request_bound, SDK_RETRY_SLEEP_MAX_SECONDS)
        options: dict[str, Any] = {
            "host": host,
            "retry_timeout_seconds": max(1, int(call_bound - overrun)),
            "http_timeout_seconds": request_bound,
        }
        tenant = extra.get("azure_tenant_id")
        token = extra.get("token") or (conn.password if not tenant else None)
        if token:
            return {**options, "token": token, "auth_type": "pat"}
        if tenant and conn.login and conn.password:
            return {
                **options,
                "azure_client_id": conn.login,
                "azure_client_secret": conn.password,
                "azure_tenant_id": tenant,
                "auth_type": "azure-client-secret",
            }
        return {**options, "token": _entra_token(), "auth_type": "pat"}

    def _timeouts(self, extra: dict[str, Any]) -> tuple[float, float]:
        """(bound of one call, bound of one HTTP request) in seconds, checked."""
        bounds = []
        for name, given, default in (
            ("retry_timeout_seconds", self.retry_timeout_seconds, DEFAULT_RETRY_TIMEOUT_SECONDS),
            ("http_timeout_seconds", self.http_timeout_seconds, DEFAULT_HTTP_TIMEOUT_SECONDS),
        ):
            value = given if given is not None else extra.get(name, default)
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                seconds = 0.0
            if isinstance(value, bool) or not 0 < seconds < float("inf"):
                raise ValueError(
                    f"Databricks connection {self.databricks_conn_id!r}: {name} must be a positive number "
                    f"of seconds, got {value!r}"
                )
            bounds.append(seconds)
        call_bound, request_bound = bounds
        return call_bound, min(request_bound, call_bound)

    def get_conn(self) -> WorkspaceClient:
        if self._client is None:
            require_extra("databricks", f"Databricks connection {self.databricks_conn_id!r}")
            from databricks.sdk import WorkspaceClient

            self._client = WorkspaceClient(config=_config_without_probe(self.config_options()))
        return self._client

    @contextmanager
    def _answering(self, what: str) -> Iterator[None]:
        """Report a workspace that does not answer by its host and the bounds it exceeded."""
        import requests

        try:
            yield
        except (TimeoutError, requests.RequestException) as error:
            call_bound, request_bound = self._bounds or (0.0, 0.0)
            raise DatabricksUnreachableError(
                f"Databricks workspace {self._host} (connection {self.databricks_conn_id!r}) did not answer "
                f"{what} within {call_bound:g} s (retry_timeout_seconds; {request_bound:g} s per request, "
                f"http_timeout_seconds): {error.__cause__ or error}"
            ) from error

    def submit(self, run_name: str, task: dict[str, Any], idempotency_token: str, timeout: int | None) -> int:
        """Submit a one-time run of one task; a repeated token returns the existing run's id."""
        client = self.get_conn()  # first: it says which extra to install if databricks-sdk is missing
        from databricks.sdk.service.jobs import SubmitTask

        with self._answering(f"runs/submit of {run_name!r}"):
            waiter = client.jobs.submit(
                run_name=run_name,
                tasks=[SubmitTask.from_dict(task)],
                idempotency_token=idempotency_token,
                timeout_seconds=timeout,
            )
        return int(waiter.run_id)

    def get_run_state(self, run_id: int) -> dict[str, Any]:
        """The run's state as plain values (what the trigger sends and the operator checks)."""
        client = self.get_conn()
        with self._answering(f"runs/get of run {run_id}"):
            run = client.jobs.get_run(run_id)
        state = run.state
        task_run_ids = [t.run_id for t in (run.tasks or []) if t.run_id is not None]
        return {
            "run_id": run_id,
            "life_cycle_state": _enum_value(state.life_cycle_state) if state else None,
            "result_state": _enum_value(state.result_state) if state else None,
            "state_message": (state.state_message if state else None) or "",
            "run_page_url": run.run_page_url,
            "task_run_ids": task_run_ids,
        }

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: sign in and ask who we are (SCIM Me), a call any identity may make."""
        try:
            client = self.get_conn()
            with self._answering("the sign-in check (SCIM Me)"):
                me = client.current_user.me()
        except Exception as error:  # the Test button shows the reason, whatever failed
            where = f"workspace {self._client.config.host}" if self._client else repr(self.databricks_conn_id)
            return False, f"Databricks {where}: {' '.join(str(error).split()) or type(error).__name__}"
        who = me.user_name or me.display_name or me.id
        return True, f"Signed in to Databricks workspace {client.config.host} as {who}."

    def error_output(self, task_run_ids: list[int]) -> str:
        """The error a failed script or notebook task reported (runs/get-output), if any."""
        messages = []
        for task_run_id in task_run_ids:
            try:
                output = self.get_conn().jobs.get_run_output(task_run_id)
            except Exception as error:  # an output is a courtesy: never hide the run's own state
                self.log.warning("Could not read the output of task run %s: %s", task_run_id, error)
                continue
            if output.error:
                messages.append(output.error)
            if output.error_trace:
                messages.append(output.error_trace.strip()[-2000:])
        return "\n".join(messages)

    def cancel(self, run_id: int) -> None:
        client = self.get_conn()
        with self._answering(f"runs/cancel of run {run_id}"):
            client.jobs.cancel_run(run_id)

    def upload_to_dbfs(self, local_file: Path, dbfs_path: str) -> None:
        """Copy one file to DBFS in 1 MiB blocks (the DBFS streaming API), replacing what is there."""
        dbfs = self.get_conn().dbfs
        path = dbfs_path.removeprefix("dbfs:")
        with self._answering(f"a DBFS upload to {dbfs_path!r}"):
            handle = dbfs.create(path, overwrite=True).handle
            with local_file.open("rb") as source:
                while block := source.read(DBFS_BLOCK):
                    dbfs.add_block(handle, base64.b64encode(block).decode())
            dbfs.close(handle)


def _config_without_probe(options: dict[str, Any]) -> Config:
    """databricks-sdk's `Config` for `options`, without its host-metadata probe.

    `Config()` first asks the host for /.well-known/databricks-config, with the full retry budget,
    before the call that was asked for gets its own: against a dead host that doubles the wait.
    The probe only discovers OAuth/OIDC settings (account, workspace id, discovery URL); this hook
    always sets the host and the auth type (a token or an Azure service principal), so it has
    nothing to learn. The SDK offers no switch, so the instance's probe method is replaced before
    `__init__` runs (a subclass would not do: `Config.attributes()` reads the class's own
    `__dict__`). If a later SDK renames the method, the probe returns, and
    tests/integration/test_databricks_dead_host.py fails on time.
    """
    from databricks.sdk.config import Config

    config = Config.__new__(Config)
    config._resolve_host_metadata = lambda: None  # type: ignore[method-assign]
    config.__init__(**options)  # type: ignore[misc]
    return config


def _enum_value(value: Any) -> str | None:
    return None if value is None else getattr(value, "value", str(value))


def _entra_token() -> str:
    """An Entra ID token for Azure Databricks from azure-identity (managed identity, CLI, env...)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential().get_token(AZURE_DATABRICKS_SCOPE).token
