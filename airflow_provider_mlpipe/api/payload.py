"""v1's submit payload checked against a published pipeline's typed parameters.

Plain functions over plain values, so every rule is testable without a server: an unknown
parameter, a value of the wrong type and a multi-line string are refused naming the
parameter, as v1 did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Tag that marks a DAG made by `Pipeline.publish` (listed and triggerable through /mlpipe).
#: Tag of every DAG built from a pipeline (`to_dag`, `publish`): what the monitoring page lists.
PIPELINE_TAG = "mlpipe"
PUBLISHED_TAG = "mlpipe:published"
VERSION_TAG_PREFIX = "mlpipe:version:"
#: Key of the run's conf that records how it was submitted (experiment, tags, version...).
RUN_RECORD_KEY = "mlpipe"


class PayloadError(ValueError):
    """The request asks for something the pipeline cannot take; the message names the field."""


@dataclass(frozen=True)
class Submission:
    """A checked submit request: the run's conf and note."""

    conf: dict[str, Any]
    note: str | None


def _type_ok(schema_type: Any, value: Any) -> bool:
    types = schema_type if isinstance(schema_type, list) else [schema_type]
    checks = {
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        None: lambda v: True,
    }
    return any(checks.get(t, lambda v: True)(value) for t in types)


def check_submission(
    body: Any, param_types: dict[str, Any], pipeline: str, version: str | None
) -> Submission:
    """Check a v1 submit body against `param_types` ({name: JSON-schema type}) and build the run's conf."""
    if not isinstance(body, dict):
        raise PayloadError("the request body must be a JSON object")
    known = {
        "ExperimentName",
        "ParameterAssignments",
        "Description",
        "Tags",
        "RunSource",
        "DataPathAssignments",
    }
    unknown_fields = sorted(set(body) - known)
    if unknown_fields:
        raise PayloadError(
            f"unknown field(s) {', '.join(unknown_fields)}; allowed: {', '.join(sorted(known))}"
        )
    experiment = body.get("ExperimentName")
    if not isinstance(experiment, str) or not experiment.strip():
        raise PayloadError("ExperimentName is required (a non-empty string)")
    assignments = {} if body.get("ParameterAssignments") is None else body["ParameterAssignments"]
    if not isinstance(assignments, dict):
        raise PayloadError("ParameterAssignments must be an object of parameter name -> value")
    conf: dict[str, Any] = {}
    for name, value in assignments.items():
        if name not in param_types:
            known_names = ", ".join(sorted(param_types)) or "none"
            raise PayloadError(
                f"ParameterAssignments: pipeline {pipeline!r} has no parameter {name!r} "
                f"(known: {known_names})"
            )
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            raise PayloadError(
                f"ParameterAssignments: {name!r} is a multi-line string, which is not supported"
            )
        if not _type_ok(param_types[name], value):
            raise PayloadError(
                f"ParameterAssignments: {name!r} must be of type {param_types[name]}, "
                f"got {type(value).__name__} {value!r}"
            )
        conf[name] = value
    data_paths = {} if body.get("DataPathAssignments") is None else body["DataPathAssignments"]
    if not isinstance(data_paths, dict):
        raise PayloadError(
            "DataPathAssignments must be an object of parameter name -> {DataStoreName, RelativePath}"
        )
    for name, value in data_paths.items():
        if name in assignments:
            raise PayloadError(f"{name!r} is in both ParameterAssignments and DataPathAssignments")
        conf[name] = _data_path_value(name, value, param_types, pipeline)
    tags = {} if body.get("Tags") is None else body["Tags"]
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise PayloadError("Tags must be an object of string values")
    description = body.get("Description")
    if description is not None and not isinstance(description, str):
        raise PayloadError("Description must be a string")
    conf[RUN_RECORD_KEY] = {
        "experiment_name": experiment,
        "description": description,
        "tags": tags,
        "run_source": body.get("RunSource") or "API",
        "pipeline_version": version,
    }
    return Submission(conf, description)


def _data_path_value(name: str, value: Any, param_types: dict[str, Any], pipeline: str) -> dict[str, Any]:
    """v1's `{"DataStoreName", "RelativePath"}` as the DAG param's `{"datastore", "path_on_datastore"}`."""
    schema_type = param_types.get(name)
    types = schema_type if isinstance(schema_type, list) else [schema_type]
    if name not in param_types or "object" not in types:
        known = ", ".join(sorted(n for n, t in param_types.items() if t == "object")) or "none"
        raise PayloadError(
            f"DataPathAssignments: pipeline {pipeline!r} has no DataPath parameter {name!r} (known: {known})"
        )
    if not isinstance(value, dict):
        raise PayloadError(
            f"DataPathAssignments: {name!r} must be an object with DataStoreName and RelativePath"
        )
    missing = [key for key in ("DataStoreName", "RelativePath") if key not in value]
    if missing:
        raise PayloadError(f"DataPathAssignments: {name!r} is missing {' and '.join(missing)}")
    extra = sorted(set(value) - {"DataStoreName", "RelativePath"})
    if extra:
        raise PayloadError(f"DataPathAssignments: {name!r} has unknown field(s) {', '.join(extra)}")
    datastore, path = value["DataStoreName"], value["RelativePath"]
    if not isinstance(datastore, str) or not datastore.strip():
        raise PayloadError(f"DataPathAssignments: {name!r}: DataStoreName must be a non-empty string")
    if not isinstance(path, str):
        raise PayloadError(f"DataPathAssignments: {name!r}: RelativePath must be a string")
    return {"datastore": datastore, "path_on_datastore": path}


def v1_status(state: str | None) -> str:
    """A DAG run's or task's state as v1's run status."""
    return {
        "queued": "NotStarted",
        "scheduled": "NotStarted",
        "none": "NotStarted",
        "running": "Running",
        "deferred": "Running",
        "up_for_retry": "Running",
        "up_for_reschedule": "Running",
        "success": "Finished",
        "skipped": "Finished",
        "failed": "Failed",
        "upstream_failed": "Canceled",
        "removed": "Canceled",
    }.get(str(state or "none").lower().split(".")[-1], "Running")
