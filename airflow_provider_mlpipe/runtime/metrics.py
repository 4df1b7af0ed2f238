"""A step's metrics at run time: the script's run context set up, its records aggregated and stored.

The script learns where to append its records from `MLPIPE_METRICS_FILE`; a copy of
`run_context.py` on its PYTHONPATH (`mlpipe_run_context`) lets a script run by another
interpreter, where the provider is not installed, log too. After the script ends the
metrics become v1's `get_metrics()` shape, pushed to XCom (`mlpipe_metrics`, also when
empty) and written to `mlpipe/<dag_id>/<run_id>/<task_id>/metrics.json` on the step's datastore;
its images (`images/`) and uploaded files (`files/`) go beside it, and the rest of what it
recorded (tags, images, files, what it gave its pipeline run) to XCom `mlpipe_run_extras`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe import run_context
from airflow_provider_mlpipe.contract import METRICS_XCOM_KEY, RUN_EXTRAS_XCOM_KEY
from airflow_provider_mlpipe.run_context import (
    FALLBACK_MODULE,
    METRICS_FILE_ENV,
    METRICS_FILE_NAME,
    PIPELINE_RUN_ID_ENV,
    RUN_ID_ENV,
    aggregate,
    read_records,
    run_summary,
)
from airflow_provider_mlpipe.runtime.step_data import output_path

if TYPE_CHECKING:
    from airflow_provider_mlpipe.runtime.step_data import AttemptData


def step_run_id(dag_id: str, run_id: str, task_id: str) -> str:
    """What `Run.get_context().id` says inside a step."""
    return f"{dag_id}/{run_id}/{task_id}"


class StepMetrics:
    """The metrics of one task attempt, kept in `folder` (inside the attempt's working folder)."""

    def __init__(self, folder: Path, log: logging.Logger) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.records_file = folder / "metrics.jsonl"
        self.log = log

    def environment(self, dag_id: str, run_id: str, task_id: str, pythonpath: str | None) -> dict[str, str]:
        """Environment variables that give the script its run context, whatever its interpreter."""
        module_dir = self.folder / "python"
        module_dir.mkdir(exist_ok=True)
        shutil.copyfile(Path(run_context.__file__), module_dir / f"{FALLBACK_MODULE}.py")
        return {
            METRICS_FILE_ENV: str(self.records_file),
            RUN_ID_ENV: step_run_id(dag_id, run_id, task_id),
            PIPELINE_RUN_ID_ENV: run_id,
            "PYTHONPATH": os.pathsep.join([str(module_dir), *([pythonpath] if pythonpath else [])]),
        }

    def publish(self, ti: Any, data: AttemptData, datastore: str | None) -> dict[str, Any]:
        """Aggregate what the script logged, push it to XCom and store `metrics.json` with the
        images and files beside it; returns the metrics."""
        records, problems = read_records(self.records_file)
        metrics, dropped = aggregate(records)
        for problem in problems + dropped:
            self.log.warning("Metrics: %s", problem)
        ti.xcom_push(key=METRICS_XCOM_KEY, value=metrics)
        summary = run_summary(records)
        local = self.folder / METRICS_FILE_NAME
        local.write_text(json.dumps(metrics, indent=2))
        folder = output_path(ti.dag_id, ti.run_id, ti.task_id, "")
        try:
            client = data.client(datastore)
            summary.update(datastore=client.name, folder=folder)
            path = output_path(ti.dag_id, ti.run_id, ti.task_id, METRICS_FILE_NAME)
            client.upload_file(local, path, overwrite=True)
            for image in summary["images"]:
                client.upload_file(self.folder / image["path"], f"{folder}/{image['path']}", overwrite=True)
        except Exception as error:  # noqa: BLE001 - storing metrics must not hide the script's own result
            self.log.warning("Metrics: could not store %s and the images: %s", METRICS_FILE_NAME, error)
        else:
            self.log.info("Metrics: %s stored at %s", ", ".join(metrics) or "none logged", client.uri(path))
        for stored in summary["files"]:
            self._store_file(data, datastore, folder, stored)
        ti.xcom_push(key=RUN_EXTRAS_XCOM_KEY, value=summary)
        return metrics

    def _store_file(
        self, data: AttemptData, datastore: str | None, folder: str, stored: dict[str, Any]
    ) -> None:
        """Upload one `Run.upload_file` file to `<folder>/files/<name>` on its datastore (or the step's)."""
        try:
            client = data.client(stored["datastore"] or datastore)
            stored["datastore"] = client.name
            stored["path_on_datastore"] = f"{folder}/{stored['path']}"
            client.upload_file(self.folder / stored["path"], stored["path_on_datastore"], overwrite=True)
            stored["uri"] = client.uri(stored["path_on_datastore"])
        except Exception as error:  # noqa: BLE001 - as for metrics.json
            self.log.warning("Run files: could not store %s: %s", stored["name"], error)
            return
        self.log.info("Run files: %s stored at %s", stored["name"], stored["uri"])
