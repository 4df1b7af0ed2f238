"""A step's data at run time: inputs brought in per mode, outputs published and described.

Inputs produced by other steps are found through the producers' XCom records, never by
recomputing paths. Outputs are published only after the script succeeded, to
`mlpipe/<dag_id>/<run_id>/<task_id>/<output_name>` on their datastore.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_mlpipe.hooks.datastore import DatastoreClient, DatastoreError, join_datastore_path
from airflow_provider_mlpipe.hooks.resolve import resolve_datastore

OUTPUT_ROOT = "mlpipe"
_UNSAFE_SEGMENT = re.compile(r"[^\w.-]", re.ASCII)


class StepDataError(RuntimeError):
    """An input could not be found or an output could not be published; names step and data."""


def path_segment(value: str) -> str:
    """A run id or task id made safe as one path segment on any datastore."""
    return _UNSAFE_SEGMENT.sub("_", value)


def output_path(dag_id: str, run_id: str, task_id: str, output_name: str) -> str:
    return join_datastore_path(
        OUTPUT_ROOT, path_segment(dag_id), path_segment(run_id), path_segment(task_id), output_name
    )


class StepData:
    """Inputs and outputs of one task attempt, inside its working folder."""

    def __init__(self, step_name: str, workdir: Path, log: logging.Logger) -> None:
        self.step_name = step_name
        self.workdir = workdir
        self.log = log
        self._clients: dict[str | None, DatastoreClient] = {}

    def client(self, datastore: str | None) -> DatastoreClient:
        if datastore not in self._clients:
            try:
                self._clients[datastore] = resolve_datastore(datastore)
            except DatastoreError as error:
                raise StepDataError(f"step {self.step_name!r}: {error}") from error
        return self._clients[datastore]

    # Inputs

    def input_location(
        self, spec: dict[str, Any], pull_record: Callable[[str], Any]
    ) -> tuple[str | None, str]:
        """(datastore name, path on it) of an input: from its producer's XCom, or its DataReference."""
        producer_task = spec.get("producer_task_id")
        if producer_task is None:
            return spec.get("datastore"), spec.get("path_on_datastore", "")
        records = pull_record(producer_task)
        record = records.get(spec["output_name"]) if isinstance(records, dict) else None
        if not record:
            raise StepDataError(
                f"step {self.step_name!r}: input {spec['name']!r} needs output {spec['output_name']!r} "
                f"of task {producer_task!r}, but that task left no record of it in XCom for this run"
            )
        return record["datastore"], record["path_on_datastore"]

    def materialize_input(self, spec: dict[str, Any], pull_record: Callable[[str], Any]) -> Path:
        """Make one input readable on this machine and return its local path."""
        datastore, path = self.input_location(spec, pull_record)
        client = self.client(datastore)
        if not client.exists(path):
            raise StepDataError(
                f"step {self.step_name!r}: input {spec['name']!r}: nothing at {path!r} on datastore "
                f"{client.name!r} ({client.uri(path)})"
            )
        in_place = client.local_path(path)
        if spec.get("mode", "mount") == "mount" and in_place is not None:
            self.log.info("Input %s: reading in place at %s", spec["name"], in_place)
            return in_place
        folder = self.workdir / "inputs" / spec["name"]
        destination = folder if client.is_directory(path) else folder / Path(path).name
        client.download(path, destination)
        self.log.info("Input %s: downloaded %s to %s", spec["name"], client.uri(path), destination)
        return destination

    # Outputs

    def output_folder(self, spec: dict[str, Any]) -> Path:
        """Where the script writes an output; a folder made in advance unless is_directory=False."""
        local = self.workdir / "outputs" / spec["name"]
        if spec.get("is_directory") is False:
            local.parent.mkdir(parents=True, exist_ok=True)
        else:
            local.mkdir(parents=True, exist_ok=True)
        return local

    def publish_output(
        self, spec: dict[str, Any], local: Path, dag_id: str, run_id: str, task_id: str
    ) -> dict[str, Any]:
        """Store one output on its datastore and return the record consumers will read from XCom."""
        if not local.exists():
            raise StepDataError(
                f"step {self.step_name!r}: output {spec['name']!r} was not written (expected a file "
                f"at {local} because is_directory=False)"
            )
        client = self.client(spec.get("datastore"))
        path = output_path(dag_id, run_id, task_id, spec["name"])
        client.publish(local, path)
        record = {
            "output_name": spec["name"],
            "datastore": client.name,
            "datastore_kind": client.kind,
            "path_on_datastore": path,
            "uri": client.uri(path),
            "is_directory": local.is_dir(),
            "producer": {"dag_id": dag_id, "run_id": run_id, "task_id": task_id},
        }
        self.log.info("Output %s published to %s", spec["name"], record["uri"])
        return record
