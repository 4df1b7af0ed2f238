"""`NewDataRunsOperator`: one pipeline run per new or changed file of a datastore schedule.

It runs in the dispatcher DAG that ``publish`` / ``to_dag`` build for a `DatastoreSchedule`
(scheduled on the watched asset) and lists the runs still to start; a mapped
`TriggerDagRunOperator` starts them. It reads the asset's event history, not only the events
that triggered its own run: Airflow folds events that arrive close together into one run (or
into none, until the next event), and the history holds each one. Each event's run has the id
``datastore__<event id>``, so an event is never started twice (a run that exists is left alone)
and one that a dispatcher run missed is started by the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Asset

#: Prefix of the run ids the dispatcher gives the pipeline runs it starts.
RUN_ID_PREFIX = "datastore__"


def run_id_for_event(event_id: int) -> str:
    """The id of the pipeline run that a datastore schedule's asset event `event_id` starts."""
    return f"{RUN_ID_PREFIX}{event_id}"


def changed_file(extra: Any) -> dict[str, str] | None:
    """The ``{"datastore", "path_on_datastore"}`` an asset event announces, or None if it is not ours."""
    payload = extra.get("payload") if isinstance(extra, dict) else None
    if not isinstance(payload, dict):
        return None
    datastore, path = payload.get("datastore"), payload.get("path_on_datastore")
    if not isinstance(datastore, str) or not isinstance(path, str) or not path:
        return None
    return {"datastore": datastore, "path_on_datastore": path}


class NewDataRunsOperator(BaseOperator):
    """List the pipeline runs to start: ``[{"trigger_run_id", "conf"}]``, one per unstarted file event.

    :param asset: the watched asset (the `DatastoreSchedule`'s); also the task's inlet.
    :param target_dag_id: the pipeline's DAG.
    :param data_path_parameter_name: the DataPath parameter each run's conf sets to its file.
    :param scan_limit: how many of the newest events are looked at in one run.
    :param run_id_prefix: what each run's id starts with, before the event id (a `Schedule`'s own).
    :param conf: the rest of each run's conf (a `Schedule`'s parameters and run record).
    """

    template_fields: Sequence[str] = ()
    ui_color = "#e0f2fe"

    def __init__(
        self,
        *,
        asset: Asset,
        target_dag_id: str,
        data_path_parameter_name: str,
        scan_limit: int = 500,
        run_id_prefix: str = RUN_ID_PREFIX,
        conf: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("inlets", [asset])
        super().__init__(**kwargs)
        self.asset = asset
        self.target_dag_id = target_dag_id
        self.data_path_parameter_name = data_path_parameter_name
        self.scan_limit = scan_limit
        self.run_id_prefix = run_id_prefix
        self.conf = dict(conf or {})

    def execute(self, context: Any) -> list[dict[str, Any]]:
        events = context["inlet_events"][self.asset].ascending(False).limit(self.scan_limit)
        files: dict[str, tuple[Any, dict[str, str]]] = {}
        for event in reversed(list(events)):
            file = changed_file(event.extra)
            if file is None:
                self.log.info("Asset event %s names no file (%r): nothing to start", event.id, event.extra)
                continue
            files[f"{self.run_id_prefix}{event.id}"] = (event, file)
        to_start: list[dict[str, Any]] = []
        for run_id in self._without_runs(context["ti"], list(files)):
            event, file = files[run_id]
            self.log.info(
                "File %r on datastore %r (asset event %s): starting run %s of %s with %s set to it",
                file["path_on_datastore"],
                file["datastore"],
                event.id,
                run_id,
                self.target_dag_id,
                self.data_path_parameter_name,
            )
            conf = {**self.conf, self.data_path_parameter_name: file}
            to_start.append({"trigger_run_id": run_id, "conf": conf})
        if not to_start:
            self.log.info("Each file event of %s has its run of %s", self.asset.uri, self.target_dag_id)
        return to_start

    def _without_runs(self, ti: Any, run_ids: list[str]) -> list[str]:
        """The `run_ids` (in order) that `target_dag_id` has no run with: one count when all have one."""
        if not run_ids:
            return []
        found = ti.get_dr_count(dag_id=self.target_dag_id, run_ids=run_ids)
        if found == 0:
            return run_ids
        if found == len(run_ids):
            return []
        half = len(run_ids) // 2
        return self._without_runs(ti, run_ids[:half]) + self._without_runs(ti, run_ids[half:])
