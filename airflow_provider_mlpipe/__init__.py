"""Azure ML SDK v1 pipelines, run as Apache Airflow DAGs.

The authoring names are loaded lazily so that importing the provider (which Airflow does
often) stays cheap and pulls in no cloud SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Datastore": "airflow_provider_mlpipe.authoring.datastore",
    "DataReference": "airflow_provider_mlpipe.authoring.datastore",
    "DataPath": "airflow_provider_mlpipe.authoring.data",
    "DataPathComputeBinding": "airflow_provider_mlpipe.authoring.data",
    "PipelineData": "airflow_provider_mlpipe.authoring.data",
    "PipelineParameter": "airflow_provider_mlpipe.authoring.data",
    "PythonScriptStep": "airflow_provider_mlpipe.authoring.steps",
    "StepSequence": "airflow_provider_mlpipe.authoring.steps",
    "AdlaStep": "airflow_provider_mlpipe.authoring.adla",
    "DatabricksStep": "airflow_provider_mlpipe.authoring.databricks",
    "DataTransferStep": "airflow_provider_mlpipe.authoring.transfer",
    "MavenLibrary": "airflow_provider_mlpipe.authoring.databricks",
    "PyPiLibrary": "airflow_provider_mlpipe.authoring.databricks",
    "RCranLibrary": "airflow_provider_mlpipe.authoring.databricks",
    "JarLibrary": "airflow_provider_mlpipe.authoring.databricks",
    "EggLibrary": "airflow_provider_mlpipe.authoring.databricks",
    "WheelLibrary": "airflow_provider_mlpipe.authoring.databricks",
    "Pipeline": "airflow_provider_mlpipe.authoring.pipeline",
    "PipelineValidationError": "airflow_provider_mlpipe.authoring.errors",
    "ScheduleRecurrence": "airflow_provider_mlpipe.authoring.schedule",
    "Schedule": "airflow_provider_mlpipe.schedules",
    "Workspace": "airflow_provider_mlpipe.workspace",
    "ComputeTarget": "airflow_provider_mlpipe.compute",
    "PublishedPipeline": "airflow_provider_mlpipe.published",
    "PipelineEndpoint": "airflow_provider_mlpipe.pipeline_endpoint",
    "Experiment": "airflow_provider_mlpipe.runs",
    "PipelineRun": "airflow_provider_mlpipe.runs",
    "StepRun": "airflow_provider_mlpipe.runs",
    "PortDataReference": "airflow_provider_mlpipe.runs",
    "StepRunOutput": "airflow_provider_mlpipe.runs",
    "PipelineRunError": "airflow_provider_mlpipe.exceptions",
    "DatastoreSchedule": "airflow_provider_mlpipe.authoring.datastore_schedule",
    "datastore_schedule": "airflow_provider_mlpipe.authoring.datastore_schedule",
    "Run": "airflow_provider_mlpipe.run_context",
}

__all__ = [
    "AdlaStep",
    "ComputeTarget",
    "DataPath",
    "DataPathComputeBinding",
    "DataReference",
    "DataTransferStep",
    "DatabricksStep",
    "Datastore",
    "DatastoreSchedule",
    "EggLibrary",
    "Experiment",
    "JarLibrary",
    "MavenLibrary",
    "Pipeline",
    "PipelineData",
    "PipelineEndpoint",
    "PipelineParameter",
    "PipelineRun",
    "PipelineRunError",
    "PipelineValidationError",
    "PortDataReference",
    "PublishedPipeline",
    "PyPiLibrary",
    "PythonScriptStep",
    "RCranLibrary",
    "Run",
    "Schedule",
    "ScheduleRecurrence",
    "StepRun",
    "StepRunOutput",
    "StepSequence",
    "WheelLibrary",
    "Workspace",
    "datastore_schedule",
    "__version__",
]

if TYPE_CHECKING:
    from airflow_provider_mlpipe.authoring.adla import AdlaStep
    from airflow_provider_mlpipe.authoring.data import (
        DataPath,
        DataPathComputeBinding,
        PipelineData,
        PipelineParameter,
    )
    from airflow_provider_mlpipe.authoring.databricks import (
        DatabricksStep,
        EggLibrary,
        JarLibrary,
        MavenLibrary,
        PyPiLibrary,
        RCranLibrary,
        WheelLibrary,
    )
    from airflow_provider_mlpipe.authoring.datastore import DataReference, Datastore
    from airflow_provider_mlpipe.authoring.datastore_schedule import DatastoreSchedule, datastore_schedule
    from airflow_provider_mlpipe.authoring.errors import PipelineValidationError
    from airflow_provider_mlpipe.authoring.pipeline import Pipeline
    from airflow_provider_mlpipe.authoring.schedule import ScheduleRecurrence
    from airflow_provider_mlpipe.authoring.steps import PythonScriptStep, StepSequence
    from airflow_provider_mlpipe.authoring.transfer import DataTransferStep
    from airflow_provider_mlpipe.compute import ComputeTarget
    from airflow_provider_mlpipe.exceptions import PipelineRunError
    from airflow_provider_mlpipe.pipeline_endpoint import PipelineEndpoint
    from airflow_provider_mlpipe.published import PublishedPipeline
    from airflow_provider_mlpipe.run_context import Run
    from airflow_provider_mlpipe.runs import (
        Experiment,
        PipelineRun,
        PortDataReference,
        StepRun,
        StepRunOutput,
    )
    from airflow_provider_mlpipe.workspace import Workspace


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        from airflow_provider_mlpipe.not_available import NOT_AVAILABLE

        if name in NOT_AVAILABLE:  # an ImportError keeps its text through `from ... import name`
            raise ImportError(f"{name} is not available in airflow_provider_mlpipe: {NOT_AVAILABLE[name]}")
        raise AttributeError(f"module 'airflow_provider_mlpipe' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
