"""A step's data at run time: inputs located, identified and brought in; outputs published.

Inputs produced by other steps are found through the producers' XCom records, never by
recomputing paths. Outputs are published only after the script succeeded, to
`mlpipe/<dag_id>/<run_id>/<task_id>/<output_name>` on their datastore, with a content
identity that consumers put in their own reuse keys.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_mlpipe.exceptions import DatastoreError, NothingAtPath, StepDataError
from airflow_provider_mlpipe.hooks.datastore import DatastoreClient, clean_datastore_path, join_datastore_path
from airflow_provider_mlpipe.hooks.resolve import resolve_datastore

OUTPUT_ROOT = "mlpipe"
_UNSAFE_SEGMENT = re.compile(r"[^\w.-]", re.ASCII)


def path_segment(value: str) -> str:
    """A run id or task id made safe as one path segment on any datastore."""
    return _UNSAFE_SEGMENT.sub("_", value)


def output_path(dag_id: str, run_id: str, task_id: str, output_name: str) -> str:
    segments = (path_segment(dag_id), path_segment(run_id), path_segment(task_id), output_name)
    return join_datastore_path(OUTPUT_ROOT, *segments)


def local_identity(local: Path) -> str:
    """Content identity of a freshly written output (file or folder), as recorded in XCom."""
    from airflow_provider_mlpipe.runtime.content_hash import tree_digest

    if local.is_file():
        return tree_digest(local.parent, [local.name]).digest
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    return tree_digest(local, files).digest


@dataclass(frozen=True)
class InputLocation:
    """Where an input's data is, and the identity its producer recorded (PipelineData only)."""

    name: str
    mode: str
    datastore: str | None
    path: str
    recorded_identity: str | None = None


class AttemptData:
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

    def locate_input(
        self, spec: dict[str, Any], pull_records: Callable[[str], Any], params: Any = None
    ) -> InputLocation:
        """An input's datastore and path: from its producer's XCom record, its DataReference, or
        the run's value of its DataPath parameter (`params`)."""
        mode = spec.get("mode", "mount")
        parameter = spec.get("data_path_parameter")
        if parameter is not None:
            datastore, path = self.data_path_value(parameter, (params or {}).get(parameter))
            return InputLocation(spec["name"], mode, datastore, path)
        producer_task = spec.get("producer_task_id")
        if producer_task is None:
            return InputLocation(spec["name"], mode, spec.get("datastore"), spec.get("path_on_datastore", ""))
        records = pull_records(producer_task)
        record = records.get(spec["output_name"]) if isinstance(records, dict) else None
        if not record:
            raise StepDataError(
                f"step {self.step_name!r}: input {spec['name']!r} needs output {spec['output_name']!r} "
                f"of task {producer_task!r}, but that task left no record of it in XCom for this run"
            )
        return InputLocation(
            spec["name"], mode, record["datastore"], record["path_on_datastore"], record.get("identity")
        )

    def data_path_value(self, parameter: str, value: Any) -> tuple[str | None, str]:
        """(datastore or None, path) of a DataPath parameter's run value.

        Takes `{"datastore", "path_on_datastore"}` (the DAG param's form) or v1's
        `{"DataStoreName", "RelativePath"}`.
        """
        expected = (
            '{"datastore": <connection id or null>, "path_on_datastore": <path>} '
            'or {"DataStoreName": ..., "RelativePath": ...}'
        )
        if isinstance(value, dict) and set(value) == {"datastore", "path_on_datastore"}:
            datastore, path = value["datastore"], value["path_on_datastore"]
        elif isinstance(value, dict) and set(value) == {"DataStoreName", "RelativePath"}:
            datastore, path = value["DataStoreName"], value["RelativePath"]
        else:
            raise StepDataError(
                f"step {self.step_name!r}: DataPath parameter {parameter!r} must be {expected}, got {value!r}"
            )
        if not (datastore is None or (isinstance(datastore, str) and datastore)) or not isinstance(
            path, str | None
        ):
            raise StepDataError(
                f"step {self.step_name!r}: DataPath parameter {parameter!r} must be {expected}, got {value!r}"
            )
        return datastore, path or ""

    def input_identity(self, location: InputLocation) -> tuple[str, str]:
        """(digest, description) of what an input holds now; the producer's record when it has one."""
        from airflow_provider_mlpipe.runtime.content_hash import bytes_digest

        if location.recorded_identity:
            return location.recorded_identity, f"recorded by its producer ({location.path})"
        client = self.client(location.datastore)
        listing = client.content_identity(location.path)
        if not listing:
            raise StepDataError(
                f"step {self.step_name!r}: input {location.name!r}: nothing at {location.path!r} on "
                f"datastore {client.name!r} ({client.uri(location.path)})"
            )
        digest = bytes_digest(json.dumps(listing).encode())
        return digest, f"{len(listing)} file(s) at {client.name}:{location.path or '/'}"

    def materialize_input(
        self, location: InputLocation, at: Path | None = None, overwrite: bool = False
    ) -> Path:
        """Make one input readable on this machine and return its local path.

        Elsewhere than in place, the data lands at `inputs/<input>/<its name>` (a file or a
        folder): one `download`, which tells a file from a folder itself (on Blob, a file costs
        one GET and no listing). `at` (v1's `path_on_compute`, below the script's working
        folder) is where the script expects it: the data is always copied there; something
        already there is replaced only with `overwrite`.
        """
        client = self.client(location.datastore)
        path = location.path
        nothing = StepDataError(
            f"step {self.step_name!r}: input {location.name!r}: nothing at {path!r} on datastore "
            f"{client.name!r} ({client.uri(path)})"
        )
        in_place = client.local_path(path) if at is None else None
        if location.mode == "mount" and in_place is not None:
            if not client.exists(path):
                raise nothing
            self.log.info("Input %s: reading in place at %s", location.name, in_place)
            return in_place
        destination = at or self.workdir / "inputs" / location.name / (Path(path).name or location.name)
        if at is not None and (at.exists() or at.is_symlink()):
            if not overwrite:
                raise StepDataError(
                    f"step {self.step_name!r}: input {location.name!r}: its path_on_compute {str(at)!r} "
                    "is already taken (by a file of the step's source folder or another input); "
                    "choose another path or pass overwrite=True to replace it"
                )
            _remove(at)
        try:
            client.download(path, destination)
        except NothingAtPath:
            raise nothing from None
        self.log.info("Input %s: downloaded %s to %s", location.name, client.uri(path), destination)
        return destination

    # Outputs

    def output_folder(self, spec: dict[str, Any], working_folder: Path | None = None) -> Path:
        """Where the script writes an output; a folder made in advance unless is_directory=False.

        With a `path_on_compute` (v1's `output_path_on_compute`), that path below the script's
        `working_folder`, which must not hold anything there yet.
        """
        at = spec.get("path_on_compute")
        if at and working_folder is not None:
            local = working_folder / at
            if local.exists() or local.is_symlink():
                raise StepDataError(
                    f"step {self.step_name!r}: output {spec['name']!r}: its path_on_compute {at!r} is "
                    "already taken in the script's working folder (by a file of its source folder or "
                    "an input); choose another path"
                )
        else:
            local = self.workdir / "outputs" / spec["name"]
        if spec.get("is_directory") is False:
            local.parent.mkdir(parents=True, exist_ok=True)
        else:
            local.mkdir(parents=True, exist_ok=True)
        return local

    def output_datastore(self, spec: dict[str, Any]) -> str:
        """The connection id an output goes to (the default datastore resolved)."""
        return self.client(spec.get("datastore")).name

    def output_exists(self, record: dict[str, Any]) -> bool:
        """Whether a recorded output is still there; `ValueError` when its datastore is unusable here."""
        try:
            client = self.client(record["datastore"])
        except StepDataError as error:
            raise ValueError(str(error.__cause__ or error)) from error
        return client.exists(record["path_on_datastore"])

    def output_location(
        self, spec: dict[str, Any], dag_id: str, run_id: str, task_id: str
    ) -> tuple[Any, str]:
        """(datastore client, path) where this run's output goes."""
        return self.client(spec.get("datastore")), output_path(dag_id, run_id, task_id, spec["name"])

    def written_output(
        self, spec: dict[str, Any], dag_id: str, run_id: str, task_id: str, at: tuple[Any, str] | None = None
    ) -> dict[str, Any]:
        """The record of an output written straight to a datastore (identity from a listing).

        `at` = (client, path) when the data is not at the run's output path (a DataReference).
        """
        from airflow_provider_mlpipe.runtime.content_hash import bytes_digest

        client, path = at or self.output_location(spec, dag_id, run_id, task_id)
        listing = client.content_identity(path)
        if not listing:
            raise StepDataError(
                f"step {self.step_name!r}: the run wrote nothing to output {spec['name']!r} "
                f"({client.uri(path)})"
            )
        is_directory = listing != [("", listing[0][1])]
        return self._record(
            spec,
            client,
            path,
            is_directory,
            bytes_digest(json.dumps(listing).encode()),
            dag_id,
            run_id,
            task_id,
        )

    def publish_output(
        self, spec: dict[str, Any], local: Path, dag_id: str, run_id: str, task_id: str
    ) -> dict[str, Any]:
        """Store one output on its datastore and return the record consumers will read from XCom."""
        if not local.exists():
            raise StepDataError(
                f"step {self.step_name!r}: output {spec['name']!r} was not written (expected a file "
                f"at {local} because is_directory=False)"
            )
        client, path = self.output_location(spec, dag_id, run_id, task_id)
        identity = local_identity(local)
        client.publish(local, path)
        return self._record(spec, client, path, local.is_dir(), identity, dag_id, run_id, task_id)

    def _record(
        self,
        spec: dict[str, Any],
        client: DatastoreClient,
        path: str,
        is_directory: bool,
        identity: str,
        dag_id: str,
        run_id: str,
        task_id: str,
    ) -> dict[str, Any]:
        path = clean_datastore_path(path)  # as the reuse index expects it: relative, normalised
        record = {
            "output_name": spec["name"],
            "datastore": client.name,
            "datastore_kind": client.kind,
            "path_on_datastore": path,
            "uri": client.uri(path),
            "is_directory": is_directory,
            "identity": identity,
            "producer": {"dag_id": dag_id, "run_id": run_id, "task_id": task_id},
        }
        self.log.info("Output %s published to %s", spec["name"], record["uri"])
        return record


def _remove(path: Path) -> None:
    """Delete a file, a link or a folder tree."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
