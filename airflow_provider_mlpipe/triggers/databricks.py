"""`DatabricksRunTrigger`: waits on the triggerer for a Databricks run to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mlpipe.hooks.databricks import TERMINAL_STATES, DatabricksHook


class DatabricksRunTrigger(BaseTrigger):
    """Poll a run until it ends, then fire one event with its final state.

    The SDK is synchronous; each poll runs in a worker thread, so the triggerer's event
    loop never blocks.
    """

    def __init__(self, run_id: int, databricks_conn_id: str, poll_interval: float = 30.0) -> None:
        super().__init__()
        if not isinstance(run_id, int) or isinstance(run_id, bool) or run_id <= 0:
            raise ValueError(f"DatabricksRunTrigger: run_id must be a positive int, got {run_id!r}")
        if not isinstance(databricks_conn_id, str) or not databricks_conn_id:
            raise ValueError("DatabricksRunTrigger: databricks_conn_id must be a connection id")
        if not isinstance(poll_interval, int | float) or poll_interval <= 0:
            raise ValueError(f"DatabricksRunTrigger: poll_interval must be > 0, got {poll_interval!r}")
        self.run_id = run_id
        self.databricks_conn_id = databricks_conn_id
        self.poll_interval = float(poll_interval)
        self._hook: DatabricksHook | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "run_id": self.run_id,
                "databricks_conn_id": self.databricks_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    @property
    def hook(self) -> DatabricksHook:
        if self._hook is None:
            self._hook = DatabricksHook(self.databricks_conn_id)
        return self._hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            state = await asyncio.to_thread(self.hook.get_run_state, self.run_id)
            if state["life_cycle_state"] in TERMINAL_STATES:
                yield TriggerEvent(state)
                return
            self.log.info("Databricks run %s is %s", self.run_id, state["life_cycle_state"])
            await asyncio.sleep(self.poll_interval)

    async def on_kill(self) -> None:
        """The deferred task was killed by a user: cancel the remote run too."""
        await asyncio.to_thread(self.hook.cancel, self.run_id)
