"""Record v1's signatures (names, order, defaults) from the v1 wheels, as a JSON fixture.

Usage: `python scripts/v1_signatures.py WHEEL_DIR > tests/unit/fixtures/v1_signatures.json`, with
the wheels of `pip download --no-deps azureml-core azureml-pipeline-core azureml-pipeline-steps`.
Reads the sources as text (Python's `ast`); nothing of v1 is imported or copied but the parameter
names and the source text of their defaults. `CALLABLES` lists what is recorded:
`"<module path in the wheel>:<Class>.<method>"`, `__init__` for a constructor.
"""

from __future__ import annotations

import ast
import json
import sys
import zipfile
from pathlib import Path

CALLABLES = [
    "azureml/core/workspace.py:Workspace.__init__",
    "azureml/core/workspace.py:Workspace.from_config",
    "azureml/core/workspace.py:Workspace.write_config",
    "azureml/core/workspace.py:Workspace.get_default_datastore",
    "azureml/core/workspace.py:Workspace.set_default_datastore",
    "azureml/core/experiment.py:Experiment.__init__",
    "azureml/core/experiment.py:Experiment.submit",
    "azureml/core/experiment.py:Experiment.get_runs",
    "azureml/core/compute/compute.py:ComputeTarget.__init__",
    "azureml/pipeline/core/pipeline.py:Pipeline.publish",
    "azureml/pipeline/core/pipeline.py:Pipeline.submit",
    "azureml/pipeline/core/pipeline.py:Pipeline.validate",
    "azureml/pipeline/core/graph.py:PublishedPipeline.__init__",
    "azureml/pipeline/core/graph.py:PublishedPipeline.get",
    "azureml/pipeline/core/graph.py:PublishedPipeline.list",
    "azureml/pipeline/core/graph.py:PublishedPipeline.get_all",
    "azureml/pipeline/core/graph.py:PublishedPipeline.submit",
    "azureml/pipeline/core/graph.py:PublishedPipeline.enable",
    "azureml/pipeline/core/graph.py:PublishedPipeline.disable",
    "azureml/pipeline/core/graph.py:PublishedPipeline.get_step_names",
    "azureml/pipeline/core/run.py:PipelineRun.__init__",
    "azureml/pipeline/core/run.py:PipelineRun.get",
    "azureml/pipeline/core/run.py:PipelineRun.find_step_run",
    "azureml/pipeline/core/run.py:PipelineRun.publish_pipeline",
    "azureml/pipeline/core/run.py:PipelineRun.wait_for_completion",
    "azureml/pipeline/core/run.py:PipelineRun.get_status",
    "azureml/pipeline/core/run.py:PipelineRun.get_steps",
    "azureml/pipeline/core/run.py:PipelineRun.get_tags",
    "azureml/pipeline/core/run.py:PipelineRun.cancel",
    "azureml/pipeline/core/run.py:StepRun.get_status",
    "azureml/pipeline/core/run.py:StepRun.get_job_log",
    "azureml/pipeline/core/run.py:StepRun.get_outputs",
    "azureml/pipeline/core/run.py:StepRun.get_output",
    "azureml/pipeline/core/run.py:StepRun.get_output_data",
    "azureml/pipeline/core/run.py:StepRunOutput.get_port_data_reference",
    "azureml/pipeline/core/graph.py:PortDataReference.download",
    "azureml/core/run.py:Run.get_context",
    "azureml/core/run.py:Run.log",
    "azureml/core/run.py:Run.log_list",
    "azureml/core/run.py:Run.log_row",
    "azureml/core/run.py:Run.log_table",
    "azureml/core/run.py:Run.log_image",
    "azureml/core/run.py:Run.get_metrics",
    "azureml/core/run.py:Run.tag",
    "azureml/core/run.py:Run.set_tags",
    "azureml/core/run.py:Run.get_tags",
    "azureml/core/run.py:Run.upload_file",
    "azureml/core/datastore.py:Datastore.__init__",
    "azureml/core/datastore.py:Datastore.get",
    "azureml/core/datastore.py:Datastore.get_default",
    "azureml/core/datastore.py:Datastore.register_azure_blob_container",
    "azureml/core/datastore.py:Datastore.register_azure_data_lake_gen2",
    "azureml/data/azure_storage_datastore.py:AbstractAzureStorageDatastore.path",
    "azureml/data/azure_storage_datastore.py:AbstractAzureStorageDatastore.as_mount",
    "azureml/data/azure_storage_datastore.py:AbstractAzureStorageDatastore.as_download",
    "azureml/data/azure_storage_datastore.py:AzureBlobDatastore.upload_files",
    "azureml/data/azure_storage_datastore.py:AzureBlobDatastore.upload",
    "azureml/data/azure_storage_datastore.py:AzureBlobDatastore.download",
    "azureml/data/data_reference.py:DataReference.__init__",
    "azureml/data/data_reference.py:DataReference.as_mount",
    "azureml/data/data_reference.py:DataReference.as_download",
    "azureml/data/data_reference.py:DataReference.as_upload",
    "azureml/data/data_reference.py:DataReference.path",
    "azureml/data/data_reference.py:DataReference.create",
    "azureml/data/datapath.py:DataPath.create_data_reference",
    "azureml/data/datapath.py:DataPath.create_from_data_reference",
    "azureml/data/datapath.py:DataPathComputeBinding.create_data_reference",
    "azureml/data/datapath.py:DataPathComputeBinding.create_from_data_reference",
    "azureml/pipeline/core/builder.py:PipelineData.as_mount",
    "azureml/pipeline/core/builder.py:PipelineData.as_download",
    "azureml/pipeline/core/builder.py:PipelineData.create_input_binding",
    "azureml/pipeline/core/builder.py:StepSequence.__init__",
    "azureml/pipeline/core/builder.py:PipelineData.__init__",
    "azureml/pipeline/core/builder.py:PipelineData.as_input",
    "azureml/pipeline/core/graph.py:PipelineParameter.__init__",
    "azureml/data/datapath.py:DataPath.__init__",
    "azureml/data/datapath.py:DataPathComputeBinding.__init__",
    "azureml/pipeline/core/pipeline.py:Pipeline.__init__",
    "azureml/pipeline/steps/python_script_step.py:PythonScriptStep.__init__",
    "azureml/pipeline/steps/databricks_step.py:DatabricksStep.__init__",
    "azureml/pipeline/steps/adla_step.py:AdlaStep.__init__",
    "azureml/pipeline/steps/data_transfer_step.py:DataTransferStep.__init__",
    "azureml/pipeline/core/schedule.py:ScheduleRecurrence.__init__",
    "azureml/pipeline/core/schedule.py:Schedule.__init__",
    "azureml/pipeline/core/schedule.py:Schedule.create",
    "azureml/pipeline/core/schedule.py:Schedule.create_for_pipeline_endpoint",
    "azureml/pipeline/core/schedule.py:Schedule.get",
    "azureml/pipeline/core/schedule.py:Schedule.get_all",
    "azureml/pipeline/core/schedule.py:Schedule.list",
    "azureml/pipeline/core/schedule.py:Schedule.get_schedules_for_pipeline_id",
    "azureml/pipeline/core/schedule.py:Schedule.get_schedules_for_pipeline_endpoint_id",
    "azureml/pipeline/core/schedule.py:Schedule.load_yaml",
    "azureml/pipeline/core/schedule.py:Schedule.enable",
    "azureml/pipeline/core/schedule.py:Schedule.disable",
    "azureml/pipeline/core/schedule.py:Schedule.update",
    "azureml/pipeline/core/schedule.py:Schedule.get_pipeline_runs",
    "azureml/pipeline/core/schedule.py:Schedule.get_last_pipeline_run",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.__init__",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.publish",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.get",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.enable",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.disable",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.get_default_version",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.get_pipeline",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.get_all_versions",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.list_versions",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.get_all_pipelines",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.list_pipelines",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.get_all",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.list",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.set_name",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.archive",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.reactivate",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.add",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.add_default",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.set_default_version",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.set_default",
    "azureml/pipeline/core/pipeline_endpoint.py:PipelineEndpoint.submit",
]


def signature(tree: ast.Module, qualified: str) -> list[list[str | None]]:
    """[[name, kind, default source or None], ...] of `Class.method`, without `self`/`cls`."""
    class_name, method = qualified.split(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == method:
                    return _parameters(item)
    raise LookupError(f"{qualified} not found")


def _parameters(function: ast.FunctionDef) -> list[list[str | None]]:
    arguments = function.args
    positional = arguments.posonlyargs + arguments.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults)) + list(
        arguments.defaults
    )
    found = [
        [a.arg, "positional", None if d is None else ast.unparse(d)]
        for a, d in zip(positional, defaults, strict=True)
    ]
    if arguments.vararg:
        found.append([arguments.vararg.arg, "var_positional", None])
    for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        found.append([a.arg, "keyword_only", None if d is None else ast.unparse(d)])
    if arguments.kwarg:
        found.append([arguments.kwarg.arg, "var_keyword", None])
    is_static = any(ast.unparse(d) == "staticmethod" for d in function.decorator_list)
    return found if is_static else found[1:]


def main(wheel_dir: str) -> None:
    sources: dict[str, str] = {}
    for wheel in sorted(Path(wheel_dir).glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if name.endswith(".py"):
                    sources[name] = archive.read(name).decode("utf-8")
    recorded = {}
    for entry in CALLABLES:
        path, qualified = entry.split(":")
        recorded[entry] = signature(ast.parse(sources[path]), qualified)
    json.dump(recorded, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
