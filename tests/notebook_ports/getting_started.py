"""Port of `aml-pipelines-getting-started.ipynb` (intro-to-pipelines, as of commit 3228bbfc).

The notebook's v1 calls, in its order, with its arguments. What differs, and why:

- Imports: `from airflow_provider_mlpipe import ...` instead of `azureml.core`,
  `azureml.core.compute` and `azureml.pipeline.*`.
- Compute: the cell that gets or provisions the AmlCompute cluster "cpu-cluster" is
  `ComputeTarget(ws, "default")`: a step's compute target is an Airflow queue.
- Environment: the RunConfiguration cell (Docker image, conda packages) is `run_config = None`;
  the package has no `RunConfiguration` (the step runs with the worker's Python).
- Widget: `RunDetails(run).show()` (azureml.widgets) is `run.wait_for_completion(show_output=True)`,
  which prints the same progress as text.
- Data: the notebook downloads Titanic.csv over HTTP; this port writes a small CSV of its own.
- Folders: the notebook's `./train`, `./compare`, `./extract` are `getting_started_src/...`
  (resolved next to the file that builds the pipeline: this module, or the deployment's DAG file).

`notebook()` is the whole notebook on `Workspace.from_config()`. On a deployment, a notebook's
Pipeline cannot be submitted yet (issue 17): `publish_in_dag_file()` publishes both pipelines from
the deployment's DAG file, and `notebook_on_deployment()` runs the same cells on their published form.
"""

from __future__ import annotations

import os
import tempfile

from airflow_provider_mlpipe import (
    ComputeTarget,
    Datastore,
    Experiment,
    Pipeline,
    PublishedPipeline,
    PythonScriptStep,
    Workspace,
)

#: The published names of the notebook's two pipelines, on a deployment.
PARALLEL = "nb_getting_started_parallel"
SEQUENCE = "nb_getting_started_sequence"
#: A few rows in the shape of the notebook's Titanic.csv (our own).
PASSENGERS = "PassengerId,Survived,Pclass,Age\n1,0,3,22\n2,1,1,38\n3,1,3,26\n4,1,1,35\n"


def datastores(ws: Workspace) -> Datastore:
    """The workspace and its datastores."""
    print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")
    blob_store = ws.get_default_datastore()
    blob_store = Datastore(ws, "workspaceblobstore")
    print(f"blob datastore: {blob_store.name}")
    return blob_store


def upload_data(blob_store: Datastore) -> None:
    """Put a small CSV on the blob datastore (the data-dependency notebook reads it)."""
    csv_file = os.path.join(tempfile.mkdtemp(), "Titanic.csv")
    with open(csv_file, "w") as handle:
        handle.write(PASSENGERS)
    blob_store.upload_files([csv_file], target_path="titanic", overwrite=True)
    print("uploaded")


def list_compute(ws: Workspace) -> None:
    for target in ws.compute_targets:
        print(target)


def build_pipeline(ws: Workspace) -> tuple[Pipeline, list[PythonScriptStep]]:
    """The compute target, three independent steps and the pipeline that runs them in parallel."""
    cluster = ComputeTarget(ws, "default")

    folder = "getting_started_src/train"
    train = PythonScriptStep(
        name="train_step",
        script_name="train.py",
        compute_target=cluster,
        source_directory=folder,
        allow_reuse=True,
    )

    folder = "getting_started_src/compare"
    compare = PythonScriptStep(
        name="compare_step", script_name="compare.py", compute_target=cluster, source_directory=folder
    )

    run_config = None  # the notebook's RunConfiguration: see the module docstring
    folder = "getting_started_src/extract"
    extract = PythonScriptStep(
        name="extract_step",
        script_name="extract.py",
        compute_target=cluster,
        source_directory=folder,
        runconfig=run_config,
    )

    trio = [train, compare, extract]
    parallel = Pipeline(workspace=ws, steps=trio)
    parallel.validate()
    return parallel, trio


def run_in_parallel(ws: Workspace, parallel: Pipeline | PublishedPipeline):
    """Submit the parallel pipeline and look at its step runs."""
    parallel_run = Experiment(ws, "Hello_World1").submit(parallel, regenerate_outputs=False)
    parallel_run.wait_for_completion(show_output=True)
    for child in parallel_run.get_children():
        state = child.get_status()
        print("step", child.name, "is", state)
        if state == "Failed":
            print("its log:", child.get_job_log())
    return parallel_run


def build_in_sequence(ws: Workspace, trio: list[PythonScriptStep]) -> Pipeline:
    """The same steps chained with run_after; the pipeline is given only the last one."""
    train, compare, extract = trio
    compare.run_after(train)
    extract.run_after(compare)
    chained = Pipeline(workspace=ws, steps=[extract])
    chained.validate()
    return chained


def run_in_sequence(ws: Workspace, chained: Pipeline | PublishedPipeline):
    chained_run = Experiment(ws, "Hello_World2").submit(chained)
    chained_run.wait_for_completion(show_output=True)
    return chained_run


def notebook():
    """The notebook top to bottom; returns its two pipeline runs."""
    ws = Workspace.from_config()
    upload_data(datastores(ws))
    list_compute(ws)
    parallel, trio = build_pipeline(ws)
    parallel_run = run_in_parallel(ws, parallel)
    chained_run = run_in_sequence(ws, build_in_sequence(ws, trio))
    return parallel_run, chained_run


def publish_in_dag_file() -> None:
    """On a deployment: the DAG file builds the notebook's pipelines and publishes them."""
    ws = Workspace.from_config()
    parallel, trio = build_pipeline(ws)
    parallel.publish(name=PARALLEL, description="getting started, in parallel")
    build_in_sequence(ws, trio).publish(name=SEQUENCE, description="getting started, in sequence")


def notebook_on_deployment():
    """The notebook's cells on a deployment, the pipelines being those the DAG file published."""
    ws = Workspace.from_config()
    upload_data(datastores(ws))
    list_compute(ws)
    parallel_run = run_in_parallel(ws, PublishedPipeline.get(ws, PARALLEL))
    chained_run = run_in_sequence(ws, PublishedPipeline.get(ws, SEQUENCE))
    return parallel_run, chained_run
