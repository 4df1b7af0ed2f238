"""v1's submit body (`ExperimentName`, `ParameterAssignments`, `DataPathAssignments`...) from a
notebook's call: one builder for every way a run is submitted (pipeline, published pipeline,
endpoint, schedule), local or remote, so each checks and records the same."""

from __future__ import annotations

from typing import Any

from airflow_provider_mlpipe.contract import REGENERATE_OUTPUTS


def split_pipeline_parameters(parameters: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """v1's `pipeline_parameters` as a submit sends them: plain values, and `DataPath` values as
    `{DataStoreName, RelativePath}` (v1's `DataPathAssignments`)."""
    from airflow_provider_mlpipe.authoring.data import DataPath

    if parameters is None:
        return {}, {}
    if not isinstance(parameters, dict):
        raise TypeError(f"pipeline_parameters must be a dict of parameter name -> value, got {parameters!r}")
    values, paths = {}, {}
    for name, value in parameters.items():
        if isinstance(value, DataPath):
            datastore = value.datastore
            paths[name] = {
                "DataStoreName": datastore
                if isinstance(datastore, str)
                else getattr(datastore, "name", None),
                "RelativePath": value.path_on_datastore,
            }
        else:
            values[name] = value
    return values, paths


def submit_body(
    experiment_name: str,
    pipeline_parameters: dict[str, Any] | None = None,
    regenerate_outputs: bool = False,
    continue_on_step_failure: bool | None = None,
    parent_run_id: str | None = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON body of a submit (fields left out when not given)."""
    values, paths = split_pipeline_parameters(pipeline_parameters)
    if regenerate_outputs:
        values[REGENERATE_OUTPUTS] = True
    body: dict[str, Any] = {"ExperimentName": experiment_name, "ParameterAssignments": values}
    optional = {
        "DataPathAssignments": paths or None,
        "ContinueRunOnStepFailure": None
        if continue_on_step_failure is None
        else bool(continue_on_step_failure),
        "ParentRunId": parent_run_id,
        "Description": description,
        "Tags": tags or None,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body
