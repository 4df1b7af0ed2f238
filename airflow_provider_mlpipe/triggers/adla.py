"""`AdlaJobTrigger`: waits on the triggerer for a U-SQL job to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mlpipe.hooks.adla import AdlaHook


class AdlaJobTrigger(BaseTrigger):
    """Poll a job until its state is Ended, then fire one event with its result and errors."""

    def __init__(self, job_id: str, adla_conn_id: str, poll_interval: float = 30.0) -> None:
        super().__init__()
        if not isinstance(job_id, str) or not job_id:
            raise ValueError(f"AdlaJobTrigger: job_id must be a non-empty string, got {job_id!r}")
        if not isinstance(adla_conn_id, str) or not adla_conn_id:
            raise ValueError("AdlaJobTrigger: adla_conn_id must be a connection id")
        if not isinstance(poll_interval, int | float) or poll_interval <= 0:
            raise ValueError(f"AdlaJobTrigger: poll_interval must be > 0, got {poll_interval!r}")
        self.job_id = job_id
        self.adla_conn_id = adla_conn_id
        self.poll_interval = float(poll_interval)
        self._hook: AdlaHook | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"job_id": self.job_id, "adla_conn_id": self.adla_conn_id, "poll_interval": self.poll_interval},
        )

    @property
    def hook(self) -> AdlaHook:
        if self._hook is None:
            self._hook = AdlaHook(self.adla_conn_id)
        return self._hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            state = await asyncio.to_thread(self.hook.get_job_state, self.job_id)
            if state["state"] == "Ended":
                yield TriggerEvent(state)
                return
            self.log.info("ADLA job %s is %s", self.job_id, state["state"])
            await asyncio.sleep(self.poll_interval)

    async def on_kill(self) -> None:
        """The deferred task was killed by a user: cancel the job too."""
        await asyncio.to_thread(self.hook.cancel, self.job_id)
