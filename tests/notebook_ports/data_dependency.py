"""Port of `aml-pipelines-with-data-dependency-steps.ipynb` (intro-to-pipelines, as of commit 3228bbfc).

The notebook's v1 calls, in its order, with its arguments. What differs, and why:

- Imports: `from airflow_provider_mlpipe import ...` instead of `azureml.core`,
  `azureml.core.compute`, `azureml.data.*` and `azureml.pipeline.*`.
- Compute: the cell that gets or provisions the AmlCompute cluster "cpu-cluster" is
  `ComputeTarget(ws, "default")`: a step's compute target is an Airflow queue.
- Environment: the RunConfiguration cell (Docker image, conda packages) is `run_config = None`;
  the package has no `RunConfiguration` (the step runs with the worker's Python).
- Widget: the `RunDetails(run).show()` cell (azureml.widgets) is left out: the next cell waits for
  the run with `wait_for_completion(show_output=True)`, which prints the same progress.
- Folders: the notebook's `data_dependency_run_<step>` folders are `data_dependency_src/<step>`
  (resolved next to the file that builds the pipeline: this module, or the deployment's DAG file).

Like the notebook, it reads `titanic/Titanic.csv` on "workspaceblobstore", which the
getting-started notebook uploads. `notebook()` is the whole notebook on `Workspace.from_config()`;
on a deployment, `publish_in_dag_file()` publishes the pipeline from the DAG file (a notebook's
Pipeline cannot be submitted there yet, issue 17) and `notebook_on_deployment()` runs the rest.
"""

from __future__ import annotations

from airflow_provider_mlpipe import (
    ComputeTarget,
    DataPath,
    DataPathComputeBinding,
    DataReference,
    Datastore,
    Experiment,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PublishedPipeline,
    PythonScriptStep,
    Workspace,
)

#: The notebook's pipeline, published on a deployment.
PUBLISHED = "nb_data_dependency"


def show_workspace(ws: Workspace) -> None:
    print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")
    for target in ws.compute_targets:
        print(target)


def build_pipeline(ws: Workspace) -> Pipeline:
    """Three steps chained by the data they pass on: train -> extract -> compare."""
    blob_store = Datastore(ws, "workspaceblobstore")
    print(f"blob datastore: {blob_store.name}")
    folder = "data_dependency_src/train"

    cluster = ComputeTarget(ws, "default")

    passengers = DataReference(
        datastore=blob_store, data_reference_name="test_data", path_on_datastore="titanic/Titanic.csv"
    )
    counts = PipelineData("processed_data1", datastore=blob_store, is_directory=True)
    run_config = None  # the notebook's RunConfiguration: see the module docstring

    train = PythonScriptStep(
        script_name="train.py",
        arguments=["--input_data", passengers, "--output_train", counts],
        inputs=[passengers],
        outputs=[counts],
        compute_target=cluster,
        source_directory=folder,
        runconfig=run_config,
    )
    print(f"step {train.name} made")

    rate = PipelineData("processed_data2", datastore=blob_store, is_directory=True)
    folder = "data_dependency_src/extract"
    extract = PythonScriptStep(
        script_name="extract.py",
        arguments=["--input_extract", counts, "--output_extract", rate],
        inputs=[counts],
        outputs=[rate],
        compute_target=cluster,
        source_directory=folder,
    )
    print(f"step {extract.name} made")

    table_path = DataPath(datastore=blob_store, path_on_datastore="titanic/Titanic.csv")
    table_parameter = PipelineParameter(name="compare_data", default_value=table_path)
    table_input = (table_parameter, DataPathComputeBinding(mode="mount"))

    verdict = PipelineData("processed_data3", datastore=blob_store, is_directory=True)
    folder = "data_dependency_src/compare"
    compare = PythonScriptStep(
        script_name="compare.py",
        arguments=["--compare_data1", table_input, "--compare_data2", rate, "--output_compare", verdict],
        inputs=[table_input, rate],
        outputs=[verdict],
        compute_target=cluster,
        source_directory=folder,
    )

    return Pipeline(workspace=ws, steps=[compare])


def run_and_inspect(ws: Workspace, pipeline: Pipeline | PublishedPipeline):
    """Submit, wait, list every step's outputs and download the train step's."""
    run = Experiment(ws, "Data_dependency_sample").submit(pipeline)
    run.wait_for_completion(show_output=True)

    for step in run.get_steps():
        print("outputs of", step.name)
        for output_name, output in step.get_outputs().items():
            where = output.get_port_data_reference()
            print("  ", output_name, where.datastore_name, where.path_on_datastore)

    found = run.find_step_run("train.py")
    if found:
        train_run = found[0]
        train_run.get_output_data("processed_data1").download("./outputs")
    return run


def notebook():
    """The notebook top to bottom; returns its pipeline run."""
    ws = Workspace.from_config()
    show_workspace(ws)
    return run_and_inspect(ws, build_pipeline(ws))


def publish_in_dag_file() -> None:
    """On a deployment: the DAG file builds the notebook's pipeline and publishes it."""
    build_pipeline(Workspace.from_config()).publish(name=PUBLISHED, description="data dependency")


def notebook_on_deployment():
    """The notebook's cells on a deployment, the pipeline being the one the DAG file published."""
    ws = Workspace.from_config()
    show_workspace(ws)
    return run_and_inspect(ws, PublishedPipeline.get(ws, PUBLISHED))
