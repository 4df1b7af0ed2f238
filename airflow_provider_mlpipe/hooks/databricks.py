"""`DatabricksHook`: a databricks-sdk `WorkspaceClient` from an Airflow connection.

Reads connections of the Databricks provider's `databricks` type with its fields: host,
a personal access token in the password (or extra `token`), or an Azure service principal
(login = client id, password = secret, extra `azure_tenant_id`), or, with no secret,
azure-identity's DefaultAzureCredential. Retries and HTTP calls are bounded so a dead host
fails a task in about a minute instead of hanging a worker for five.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_mlpipe.extras import require_extra

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

#: Azure Databricks' application id: the scope of an Entra ID token for a workspace.
AZURE_DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"
DBFS_BLOCK = 1024 * 1024
TERMINAL_STATES = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


class DatabricksHook(BaseHook):
    """Submit, watch and cancel one-time Databricks runs for pipeline steps."""

    conn_name_attr = "databricks_conn_id"
    default_conn_name = "databricks_default"
    hook_name = "mlpipe Databricks workspace"

    def __init__(
        self,
        databricks_conn_id: str = default_conn_name,
        retry_timeout_seconds: int = 60,
        http_timeout_seconds: int = 30,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.databricks_conn_id = databricks_conn_id
        self.retry_timeout_seconds = retry_timeout_seconds
        self.http_timeout_seconds = http_timeout_seconds
        self._client: WorkspaceClient | None = None

    def config_options(self) -> dict[str, Any]:
        """`databricks.sdk.config.Config` options for this connection, with auth_type set explicitly."""
        conn = self.get_connection(self.databricks_conn_id)
        extra = conn.extra_dejson or {}
        host = (conn.host or extra.get("host") or "").rstrip("/")
        if not host:
            raise ValueError(f"Databricks connection {self.databricks_conn_id!r} has no host")
        if "://" not in host:
            host = f"https://{host}"
        options: dict[str, Any] = {
            "host": host,
            "retry_timeout_seconds": self.retry_timeout_seconds,
            "http_timeout_seconds": self.http_timeout_seconds,
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

    def get_conn(self) -> WorkspaceClient:
        if self._client is None:
            require_extra("databricks", f"Databricks connection {self.databricks_conn_id!r}")
            from databricks.sdk import WorkspaceClient
            from databricks.sdk.config import Config

            self._client = WorkspaceClient(config=Config(**self.config_options()))
        return self._client

    def submit(self, run_name: str, task: dict[str, Any], idempotency_token: str, timeout: int | None) -> int:
        """Submit a one-time run of one task; a repeated token returns the existing run's id."""
        from databricks.sdk.service.jobs import SubmitTask

        waiter = self.get_conn().jobs.submit(
            run_name=run_name,
            tasks=[SubmitTask.from_dict(task)],
            idempotency_token=idempotency_token,
            timeout_seconds=timeout,
        )
        return int(waiter.run_id)

    def get_run_state(self, run_id: int) -> dict[str, Any]:
        """The run's state as plain values (what the trigger sends and the operator checks)."""
        run = self.get_conn().jobs.get_run(run_id)
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
        self.get_conn().jobs.cancel_run(run_id)

    def upload_to_dbfs(self, local_file: Path, dbfs_path: str) -> None:
        """Copy one file to DBFS in 1 MiB blocks (the DBFS streaming API), replacing what is there."""
        dbfs = self.get_conn().dbfs
        path = dbfs_path.removeprefix("dbfs:")
        handle = dbfs.create(path, overwrite=True).handle
        with local_file.open("rb") as source:
            while block := source.read(DBFS_BLOCK):
                dbfs.add_block(handle, base64.b64encode(block).decode())
        dbfs.close(handle)


def _enum_value(value: Any) -> str | None:
    return None if value is None else getattr(value, "value", str(value))


def _entra_token() -> str:
    """An Entra ID token for Azure Databricks from azure-identity (managed identity, CLI, env...)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential().get_token(AZURE_DATABRICKS_SCOPE).token
