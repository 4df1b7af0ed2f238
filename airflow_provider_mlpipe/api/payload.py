"""v1's submit payload checked against a published pipeline's typed parameters.

Plain functions over plain values, so every rule is testable without a server: an unknown
parameter, a value of the wrong type and a multi-line string are refused naming the
parameter, as v1 did; so are values the metadata DB cannot store (NaN, NUL characters) and
fields over the limits declared in `limits.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_mlpipe.api import limits
from airflow_provider_mlpipe.api.limits import json_problem, length_problem, member_path, shown
from airflow_provider_mlpipe.contract import CONTINUE_ON_STEP_FAILURE, RUN_RECORD_KEY


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


KNOWN_FIELDS = (
    "ContinueRunOnStepFailure",
    "DataPathAssignments",
    "Description",
    "ExperimentName",
    "ParameterAssignments",
    "ParentRunId",
    "RunSource",
    "Tags",
)


def check_submission(
    body: Any, param_types: dict[str, Any], pipeline: str, version: str | None
) -> Submission:
    """Check a v1 submit body against `param_types` ({name: JSON-schema type}) and build the run's conf."""
    if not isinstance(body, dict):
        raise PayloadError("the request body must be a JSON object")
    unknown_fields = sorted(set(body) - set(KNOWN_FIELDS), key=str)
    if unknown_fields:
        named = ", ".join(member_path("", field) for field in unknown_fields[:5])
        raise PayloadError(f"unknown field(s) {named}; allowed: {', '.join(KNOWN_FIELDS)}")
    _refuse(json_problem(body))
    experiment = _experiment_name(body.get("ExperimentName"))
    assignments = {} if body.get("ParameterAssignments") is None else body["ParameterAssignments"]
    if not isinstance(assignments, dict):
        raise PayloadError("ParameterAssignments must be an object of parameter name -> value")
    data_paths = {} if body.get("DataPathAssignments") is None else body["DataPathAssignments"]
    if not isinstance(data_paths, dict):
        raise PayloadError(
            "DataPathAssignments must be an object of parameter name -> {DataStoreName, RelativePath}"
        )
    if len(assignments) + len(data_paths) > limits.MAX_PARAMETERS:
        raise PayloadError(
            f"ParameterAssignments and DataPathAssignments have {len(assignments) + len(data_paths)} "
            f"entries; at most {limits.MAX_PARAMETERS} are allowed"
        )
    conf: dict[str, Any] = {}
    for name, value in assignments.items():
        conf[name] = _parameter_value(name, value, param_types, pipeline)
    for name, value in data_paths.items():
        if name in assignments:
            raise PayloadError(f"{shown(name)} is in both ParameterAssignments and DataPathAssignments")
        conf[name] = _data_path_value(name, value, param_types, pipeline)
    tags = _tags(body.get("Tags"))
    description = body.get("Description")
    if description is not None and not isinstance(description, str):
        raise PayloadError("Description must be a string")
    _refuse(description and length_problem(description, "Description", limits.MAX_DESCRIPTION_CHARS))
    run_source = body.get("RunSource")
    if run_source is not None and not isinstance(run_source, str):
        raise PayloadError("RunSource must be a string")
    _refuse(run_source and length_problem(run_source, "RunSource", limits.MAX_RUN_SOURCE_CHARS))
    continue_on_failure = body.get("ContinueRunOnStepFailure")
    if continue_on_failure is not None:
        if not isinstance(continue_on_failure, bool):
            raise PayloadError("ContinueRunOnStepFailure must be true or false")
        conf[CONTINUE_ON_STEP_FAILURE] = continue_on_failure
    parent_run_id = body.get("ParentRunId")
    if parent_run_id is not None and not isinstance(parent_run_id, str):
        raise PayloadError("ParentRunId must be a string")
    _refuse(parent_run_id and length_problem(parent_run_id, "ParentRunId", limits.MAX_RUN_SOURCE_CHARS))
    conf[RUN_RECORD_KEY] = {
        "experiment_name": experiment,
        "description": description,
        "tags": tags,
        "run_source": run_source or "API",
        "pipeline_version": version,
    }
    if parent_run_id is not None:
        conf[RUN_RECORD_KEY]["parent_run_id"] = parent_run_id
    return Submission(conf, description)


def _refuse(problem: str | None) -> None:
    if problem:
        raise PayloadError(problem)


def _experiment_name(experiment: Any) -> str:
    if not isinstance(experiment, str) or not experiment.strip():
        raise PayloadError("ExperimentName is required (a non-empty string)")
    if not limits.EXPERIMENT_NAME_PATTERN.fullmatch(experiment):
        raise PayloadError(
            f"ExperimentName {shown(experiment)} must be 1-255 letters, digits, '_' or '-', "
            "starting with a letter or digit (v1's rule)"
        )
    return experiment


def _parameter_value(name: Any, value: Any, param_types: dict[str, Any], pipeline: str) -> Any:
    if name not in param_types:
        known_names = ", ".join(sorted(param_types)) or "none"
        raise PayloadError(
            f"ParameterAssignments: pipeline {pipeline!r} has no parameter {shown(name)} "
            f"(known: {known_names})"
        )
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        raise PayloadError(f"ParameterAssignments: {name!r} is a multi-line string, which is not supported")
    if not _type_ok(param_types[name], value):
        raise PayloadError(
            f"ParameterAssignments: {name!r} must be of type {param_types[name]}, "
            f"got {type(value).__name__} {shown(value)}"
        )
    _refuse(_longest_string_problem(value, f"ParameterAssignments: {name!r}"))
    return value


def _longest_string_problem(value: Any, where: str) -> str | None:
    """A string anywhere inside a parameter value over MAX_PARAMETER_CHARS, named; None if none."""
    if isinstance(value, str):
        return length_problem(value, where, limits.MAX_PARAMETER_CHARS)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        problem = length_problem(str(key), f"{where}: a key", limits.MAX_PARAMETER_CHARS)
        problem = problem or _longest_string_problem(item, where)
        if problem:
            return problem
    return None


def _tags(tags: Any) -> dict[str, str]:
    tags = {} if tags is None else tags
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise PayloadError("Tags must be an object of string values")
    if len(tags) > limits.MAX_TAGS:
        raise PayloadError(f"Tags has {len(tags)} entries; at most {limits.MAX_TAGS} are allowed")
    for key, value in tags.items():
        _refuse(length_problem(key, f"Tags: key {shown(key)}", limits.MAX_TAG_KEY_CHARS))
        _refuse(length_problem(value, f"Tags[{shown(key)}]", limits.MAX_TAG_VALUE_CHARS))
    return tags


def _data_path_value(name: str, value: Any, param_types: dict[str, Any], pipeline: str) -> dict[str, Any]:
    """v1's `{"DataStoreName", "RelativePath"}` as the DAG param's `{"datastore", "path_on_datastore"}`."""
    schema_type = param_types.get(name)
    types = schema_type if isinstance(schema_type, list) else [schema_type]
    if name not in param_types or "object" not in types:
        known = ", ".join(sorted(n for n, t in param_types.items() if t == "object")) or "none"
        raise PayloadError(
            f"DataPathAssignments: pipeline {pipeline!r} has no DataPath parameter {shown(name)} "
            f"(known: {known})"
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
    _refuse(length_problem(datastore, f"DataPathAssignments: {name!r}: DataStoreName", limits.MAX_NAME_CHARS))
    _refuse(length_problem(path, f"DataPathAssignments: {name!r}: RelativePath", limits.MAX_PARAMETER_CHARS))
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
